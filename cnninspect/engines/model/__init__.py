"""--model: the user's own nn.Module, traced call by call. This runs the user's code.

The model is imported from a file or a package and built on the meta device first (no memory,
no weight initialisation). Its size then chooses where it is traced: a model whose parameters
and activations fit in ``MODEL_CPU_LIMIT`` (device.py) is built again on the CPU, with seeded (so
deterministic) weights, because a small CPU forward pass is faster than the meta device's first
use; larger ones are traced on meta. A CPU pass that would compute more than
``MODEL_CPU_MULT_ADDS`` stops before the op that would take it over and goes to meta too.
Where meta cannot go — a constructor that reads tensor values (RegNet), a forward pass with
data-dependent ops (``torch.nonzero`` in a detector) — the CPU takes over when memory allows,
and the trace says so.

Every module call is seen by global forward hooks (a TorchScript module takes no hooks of its
own, so it is one opaque row). The pre-hooks check Linear, Conv and norm layers with the same
rule as both spec engines (``check_input``): a mismatch is recorded and the layer gets a stand-in
input of the size it expects, so the forward pass carries on and later mismatches are found in
the same run. A rank the catalog refuses is left to PyTorch: only when PyTorch refuses it too is
it a finding.

Mult-adds are counted per op by a dispatch mode with ``torch.utils.flop_counter``'s formulas
(FlopCounterMode's own, ÷ 2), plus one per output value for each bias add and each norm's scale
and shift, as the spec engines count them (torchinfo counts a norm's parameters once per sample
instead). FlopCounterMode itself is not used: rows
need each call's share and the ops without a formula, and its dispatch mode imports
torch._dynamo on first use (about 1.7 s, more than a whole small CPU trace). The same mode follows
the data: which call's output each module receives, unchanged or through ops that keep its shape.

The forward pass runs as inference does, in eval mode and without gradients; an instance's copy
keeps the instance's own mode; ``--mode`` says otherwise. An instance given by name is never
touched: it is copied first, so it is not moved, not switched between train and eval, and keeps
no hook, buffer or gradient it did not have.
Each module is located where the user's code constructed it (``self.fc = nn.Linear(…)``).
While the user's code runs, ``print`` goes to stderr, ``os._exit`` raises instead of ending the
process, and ``--timeout`` ends it.

Modules, in the order a run uses them:

    target.py    what --model names (FILE.py:NAME, package.module:NAME) and --arg KEY=VALUE
    config.py    a Hydra config's node (FILE.yaml:NODE), composed and instantiated by hydra-core
    sandbox.py   the user's code kept on stderr, bounded in time, never ending the process
    build.py     the import, the model built on meta or the CPU (seeded), an instance copied
    device.py    where the forward pass runs (CPU or meta, and the fallback), its dummy inputs
    tracer.py    the forward pass: module hooks, the size checks, the data flow
    counting.py  the dispatch mode that counts each op with flop_counter's formulas
    records.py   ModuleRecord and ModelTrace, and the rows built from the calls

``inspect_model`` (here) runs them in turn. Torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnninspect.engines import Mode
from cnninspect.engines.model.build import Maker, load_attr, seeded
from cnninspect.engines.model.device import DTYPES, dummy, trace_where_it_fits
from cnninspect.engines.model.records import ModelTrace, ModuleRecord, build_records, output_bytes, walk
from cnninspect.engines.model.sandbox import DEFAULT_TIMEOUT, TimeUp, fenced
from cnninspect.engines.model.target import ModelTarget, parse_args, parse_target
from cnninspect.engines.model.tracer import Tracer, first_tensor
from cnninspect.engines.torch import import_torch
from cnninspect.errors import Location, UsageError
from cnninspect.spec.model import ModelSpec
from cnninspect.spec.validate import parse_input
from cnninspect.text import did_you_mean

__all__ = [
    "DEFAULT_TIMEOUT",
    "Mode",
    "ModelTarget",
    "ModelTrace",
    "ModuleRecord",
    "inspect_model",
    "parse_args",
    "parse_target",
]


def inspect_model(
    target: ModelTarget,
    args: dict[str, object],
    inputs: Sequence[str],
    dtypes: Sequence[str] = (),
    batch: int = 1,
    depth: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    mode: Mode | None = None,
    quiet: bool = True,
) -> ModelTrace:
    """Import, build and trace the user's model; one record per module call shown. ``timeout`` bounds
    the user's code (None: no limit); ``mode`` is the mode to trace in (None: eval mode for a model
    built here, an instance's own); ``quiet`` keeps warnings and torch's log messages off stderr."""
    if not inputs:
        raise UsageError(
            "--model needs --input: the shape of one sample, e.g. --input 3x32x32 (several for several inputs)"
        )
    shapes = [parse_input(text, Location("--input", 1, 1)) for text in inputs]
    if len(dtypes) not in (0, 1, len(shapes)):
        raise UsageError(
            f"give one --dtype for every input, or one for all ({len(shapes)} inputs, {len(dtypes)} dtypes)"
        )
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise UsageError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}{did_you_mean(dtype, DTYPES)}")
    import_torch()  # before the user's code, so its own "import torch" is quiet
    kinds = [dtypes[min(i, len(dtypes) - 1)] if dtypes else "float32" for i in range(len(shapes))]
    batched = [(batch, *shape) for shape in shapes]
    with fenced(timeout, quiet):
        obj, import_sites = load_attr(target)
        maker = Maker(target, obj, args, import_sites, mode)
        tracer, device = trace_where_it_fits(maker, batched, kinds)
        root = tracer.root
        mixed = _batch_mixed(tracer, batched, kinds, device, maker.notes)
    spec_name = target.attr.rsplit(".", 1)[-1] or target.module
    records = build_records(tracer.model, root, depth, tracer.sites, target, tracer.used, spec_name)
    layers = tuple(record.layer for record in records)
    spec = ModelSpec(spec_name, shapes[0], layers, target.text, batch)
    reshape = tracer.reshape_to(root.output_shape) if mixed else None
    return ModelTrace(
        spec,
        tuple(records),
        "torch",
        finished=root.output_shape is not None,
        returned=root.output_shape,
        inputs=tuple(batched),
        device=device,
        notes=tuple(maker.notes),
        activations=sum(output_bytes(c) for c in (root, *walk(root)) if not c.children),
        batch_mixed=mixed,
        reshape=reshape,
    )


def _batch_mixed(
    tracer: Tracer, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str], device: str, notes: list[str]
) -> bool:
    """True when the samples of the batch are mixed up in the output; ``notes`` says so when it took a
    second forward pass to tell. The output's first tensor differs from the batch in
    dimension 0, and at batch + 1 that dimension follows the batch while no dimension grows by
    exactly one sample. A sequence-first model's (time, batch, …) keeps its samples apart; a count
    the data decides (a detector's boxes) does not follow the batch; a list of one result per
    sample (a detector's per-image dicts) is the batch."""
    returned, batch = tracer.root.output_shape, inputs[0][0]
    if not returned or returned[0] == batch:
        return False
    notes.append(
        f"run again at batch {batch + 1} to see which output dimension follows the batch: the first is "
        f"{returned[0]}, not {batch}"
    )
    torch = import_torch()
    bigger = [dummy((batch + 1, *shape[1:]), kind, device) for shape, kind in zip(inputs, kinds)]
    try:
        with torch.no_grad(), seeded():
            output = tracer.model(*bigger)
    except (TimeUp, KeyboardInterrupt):
        raise
    except BaseException:
        return True  # it cannot run at another batch size: judged by dimension 0 alone
    if _per_sample(tracer.output, batch) and _per_sample(output, batch + 1):
        return False
    again = first_tensor(output)
    if again is None or again.dim() != len(returned):
        return True
    if again.shape[0] == returned[0]:
        return False  # dimension 0 stays as it is: a count the data decides, not the samples
    return not any(a == batch and b == batch + 1 for a, b in zip(returned, again.shape))


def _per_sample(output: object, batch: int) -> bool:
    """A list or tuple of one result per sample, such as a detector's per-image dicts."""
    return isinstance(output, (list, tuple)) and len(output) == batch
