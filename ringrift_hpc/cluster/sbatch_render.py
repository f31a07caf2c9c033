"""sbatch scripts from the templates shipped in ``ringrift_hpc/cluster/templates/`` and a config,
for sites that submit by hand.

Rendering is pure: template text + config + run directory -> script text. Templates hold
``@@name@@`` placeholders (shell's own ``$`` and ``${}`` stay untouched); every placeholder
must be known and every value used, so a template and this module cannot drift apart silently.
The resources are the ones the Slurm executor gives submitit, so a hand-submitted job asks for
what the controller's would. There is a template per resource kind; a purpose renders the
template of its kind (a tournament the evaluation template) with its own job name and worker.
The controller has a template of its own: one long job on the ``slurm.controller`` resources,
requeued when preempted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

from ringrift_hpc.cluster.purposes import Purpose, check_purpose, job_name, resource_kind
from ringrift_hpc.config import Config
from ringrift_hpc.config.job_kinds import JobKind
from ringrift_hpc.config.slurm import EvaluateJob, SelfplayJob, SlurmJob

# What can be rendered: the job of each purpose, and the controller itself.
Script = Literal["selfplay", "train", "evaluate", "tournament", "controller"]
SCRIPTS: tuple[Script, ...] = get_args(Script)
CONTROLLER: Script = "controller"

TEMPLATE_FILES: Mapping[JobKind, str] = {
    "selfplay": "selfplay.sbatch",
    "train": "train.sbatch",
    "evaluate": "evaluate.sbatch",
}
CONTROLLER_TEMPLATE = "controller.sbatch"
ARRAY_KINDS: frozenset[JobKind] = frozenset({"selfplay", "evaluate"})
# The warning before the time limit, as submitit's default: workers flush and exit on it, the
# controller's script requeues its job on it.
SIGNAL = "B:USR2@90"

_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


class TemplateError(ValueError):
    """A template whose placeholders do not match the values the renderer provides."""


def check_script(value: str) -> Script:
    """``value`` as a script name; ``ValueError`` naming the scripts there are."""
    for script in SCRIPTS:
        if value == script:
            return script
    raise ValueError(f"{value!r} is not one of {', '.join(SCRIPTS)}")


def fill_placeholders(template: str, values: Mapping[str, str], *, source: str) -> str:
    """Replace every ``@@name@@``; unknown placeholders and unused values are errors."""
    found = set(_PLACEHOLDER.findall(template))
    unknown = sorted(found - set(values))
    if unknown:
        raise TemplateError(
            f"{source}: unknown placeholder(s) {', '.join(f'@@{n}@@' for n in unknown)}; "
            f"known are {', '.join(f'@@{n}@@' for n in sorted(values))}"
        )
    unused = sorted(set(values) - found)
    if unused:
        raise TemplateError(
            f"{source}: lacks placeholder(s) {', '.join(f'@@{n}@@' for n in unused)}; "
            "the template and ringrift_hpc/cluster/sbatch_render.py must agree"
        )
    return _PLACEHOLDER.sub(lambda match: values[match[1]], template)


def log_dir(run_root: PurePosixPath) -> PurePosixPath:
    """Where rendered scripts write their logs (Slurm does not create it)."""
    return run_root / "jobs" / "sbatch"


def template_file(script: Script) -> str:
    """The file name of the template that ``script`` renders."""
    if script == CONTROLLER:
        return CONTROLLER_TEMPLATE
    return TEMPLATE_FILES[resource_kind(check_purpose(script))]


def read_template(script: Script, folder: Path | None = None) -> str:
    """The template of ``script``: from ``folder`` when given, else the one shipped in the package.

    ``FileNotFoundError`` when ``folder`` lacks it.
    """
    name = template_file(script)
    if folder is not None:
        return (folder / name).read_text(encoding="utf-8")
    # Through importlib.resources, so an installed wheel finds its templates without a source tree.
    return (resources.files("ringrift_hpc.cluster") / "templates" / name).read_text(encoding="utf-8")


def _lines(job: SlurmJob, fixed: Sequence[tuple[str, str | None]], flags: Sequence[str] = ()) -> list[str]:
    """``fixed`` options (left out where None) and ``flags``, then the job's own extra options."""
    lines = [f"#SBATCH --{option}={shlex.quote(value)}" for option, value in fixed if value is not None]
    lines.extend(f"#SBATCH --{flag}" for flag in flags)
    for arg in job.extra_sbatch_args:
        option, equals, value = arg.partition("=")
        lines.append(f"#SBATCH {option}={shlex.quote(value)}" if equals else f"#SBATCH {option}")
    return lines


def _resources(job: SlurmJob) -> list[tuple[str, str | None]]:
    return [
        ("partition", job.partition),
        ("account", job.account),
        ("qos", job.qos),
        ("time", job.time),
        ("cpus-per-task", str(job.cpus)),
        ("mem", job.mem),
        ("gpus-per-node", str(job.gpus) if job.gpus else None),
        ("constraint", job.constraint),
    ]


def sbatch_directives(config: Config, purpose: Purpose, run_root: PurePosixPath) -> list[str]:
    """The ``#SBATCH`` lines for one purpose, in a fixed order."""
    kind = resource_kind(purpose)
    job = config.slurm.job(kind)
    pattern = "%x-%A_%a.out" if kind in ARRAY_KINDS else "%x-%j.out"
    return _lines(
        job,
        [
            ("job-name", job_name(config.run.name, purpose)),
            *_resources(job),
            ("output", str(log_dir(run_root) / pattern)),
            ("signal", SIGNAL),
        ],
    )


def controller_job_name(run_name: str) -> str:
    """The scheduler's name of a run's controller job, e.g. ``rr-main-controller``.

    Not a purpose's name: ``halt --cancel`` and accounting, which select the run's jobs by their
    purposes' names, leave the controller alone.
    """
    return f"{run_name}-controller"


def controller_directives(config: Config, run_root: PurePosixPath) -> list[str]:
    """The controller's ``#SBATCH`` lines: requeued when preempted, one log across restarts."""
    job = config.slurm.controller
    return _lines(
        job,
        [
            ("job-name", controller_job_name(config.run.name)),
            *_resources(job),
            ("output", str(log_dir(run_root) / "%x-%j.out")),
            # A requeued job keeps its id, so its restarts write on in the same log.
            ("open-mode", "append"),
            ("signal", SIGNAL),
        ],
        flags=["requeue"],
    )


def setup_lines(config: Config, job: SlurmJob) -> str:
    lines = [*config.slurm.setup, *job.setup]
    if not lines:
        return "# (no setup lines in the config: slurm.setup, slurm.<kind>.setup)"
    return "\n".join(["# setup from the config", *lines])


def _absolute(run_root: PurePosixPath) -> None:
    if not run_root.is_absolute():
        raise ValueError(f"run root {run_root} must be absolute: jobs do not start where you render")


def render_sbatch(template: str, config: Config, purpose: Purpose, *, run_root: PurePosixPath) -> str:
    """The sbatch script of ``purpose`` for the run at ``run_root`` (an absolute path)."""
    _absolute(run_root)
    kind = resource_kind(purpose)
    job = config.slurm.job(kind)
    values = {
        "run_name": config.run.name,
        "purpose": purpose,
        "directives": "\n".join(sbatch_directives(config, purpose, run_root)),
        "setup": setup_lines(config, job),
        "log_dir": shlex.quote(str(log_dir(run_root))),
    }
    if isinstance(job, (SelfplayJob, EvaluateJob)):
        values["array_parallelism"] = str(job.array_parallelism)
    return fill_placeholders(template, values, source=TEMPLATE_FILES[kind])


def render_controller(template: str, config: Config, *, run_root: PurePosixPath) -> str:
    """The sbatch script that runs the controller of the run at ``run_root`` (an absolute path)."""
    _absolute(run_root)
    values = {
        "run_name": config.run.name,
        "run_root": shlex.quote(str(run_root)),
        "directives": "\n".join(controller_directives(config, run_root)),
        "setup": setup_lines(config, config.slurm.controller),
        "log_dir": shlex.quote(str(log_dir(run_root))),
    }
    return fill_placeholders(template, values, source=CONTROLLER_TEMPLATE)


def render_script(template: str, config: Config, script: Script, *, run_root: PurePosixPath) -> str:
    """The sbatch script of ``script``: a purpose's job or the controller."""
    if script == CONTROLLER:
        return render_controller(template, config, run_root=run_root)
    return render_sbatch(template, config, check_purpose(script), run_root=run_root)
