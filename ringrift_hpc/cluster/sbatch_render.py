"""sbatch scripts from the templates in ``sbatch/`` and a config, for sites that submit by hand.

Rendering is pure: template text + config + run directory -> script text. Templates hold
``@@name@@`` placeholders (shell's own ``$`` and ``${}`` stay untouched); every placeholder
must be known and every value used, so a template and this module cannot drift apart silently.
The resources are the ones the Slurm executor gives submitit, so a hand-submitted job asks for
what the controller's would. There is a template per resource kind; a purpose renders the
template of its kind (a tournament the evaluation template) with its own job name and worker.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath

from ringrift_hpc.cluster.purposes import Purpose, job_name, resource_kind
from ringrift_hpc.config import Config
from ringrift_hpc.config.job_kinds import JobKind
from ringrift_hpc.config.slurm import EvaluateJob, SelfplayJob

TEMPLATE_FILES: Mapping[JobKind, str] = {
    "selfplay": "selfplay.sbatch",
    "train": "train.sbatch",
    "evaluate": "evaluate.sbatch",
}
ARRAY_KINDS: frozenset[JobKind] = frozenset({"selfplay", "evaluate"})
# The warning before the time limit, as submitit's default: workers flush and exit on it.
SIGNAL = "B:USR2@90"

_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


class TemplateError(ValueError):
    """A template whose placeholders do not match the values the renderer provides."""


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


def template_file(purpose: Purpose) -> str:
    """The file name, in ``sbatch/``, of the template that ``purpose`` renders."""
    return TEMPLATE_FILES[resource_kind(purpose)]


def sbatch_directives(config: Config, purpose: Purpose, run_root: PurePosixPath) -> list[str]:
    """The ``#SBATCH`` lines for one purpose, in a fixed order."""
    kind = resource_kind(purpose)
    job = config.slurm.job(kind)
    pattern = "%x-%A_%a.out" if kind in ARRAY_KINDS else "%x-%j.out"
    options: list[tuple[str, str | None]] = [
        ("job-name", job_name(config.run.name, purpose)),
        ("partition", job.partition),
        ("account", job.account),
        ("qos", job.qos),
        ("time", job.time),
        ("cpus-per-task", str(job.cpus)),
        ("mem", job.mem),
        ("gpus-per-node", str(job.gpus) if job.gpus else None),
        ("constraint", job.constraint),
        ("output", str(log_dir(run_root) / pattern)),
        ("signal", SIGNAL),
    ]
    lines = [f"#SBATCH --{option}={shlex.quote(value)}" for option, value in options if value is not None]
    for arg in job.extra_sbatch_args:
        option, equals, value = arg.partition("=")
        lines.append(f"#SBATCH {option}={shlex.quote(value)}" if equals else f"#SBATCH {option}")
    return lines


def setup_lines(config: Config, kind: JobKind) -> str:
    lines = [*config.slurm.setup, *config.slurm.job(kind).setup]
    if not lines:
        return "# (no setup lines in the config: slurm.setup, slurm.<kind>.setup)"
    return "\n".join(["# setup from the config", *lines])


def render_sbatch(template: str, config: Config, purpose: Purpose, *, run_root: PurePosixPath) -> str:
    """The sbatch script of ``purpose`` for the run at ``run_root`` (an absolute path)."""
    if not run_root.is_absolute():
        raise ValueError(f"run root {run_root} must be absolute: jobs do not start where you render")
    kind = resource_kind(purpose)
    job = config.slurm.job(kind)
    values = {
        "run_name": config.run.name,
        "purpose": purpose,
        "directives": "\n".join(sbatch_directives(config, purpose, run_root)),
        "setup": setup_lines(config, kind),
        "log_dir": shlex.quote(str(log_dir(run_root))),
    }
    if isinstance(job, (SelfplayJob, EvaluateJob)):
        values["array_parallelism"] = str(job.array_parallelism)
    return fill_placeholders(template, values, source=TEMPLATE_FILES[kind])
