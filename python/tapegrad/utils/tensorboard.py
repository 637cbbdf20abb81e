"""tapegrad.utils.tensorboard.SummaryWriter: PyTorch's TensorBoard writer, on tensorboardX
(`pip install "tapegrad[tensorboard]"`), which writes the event files; view them with
`tensorboard --logdir runs`.

Tensors are passed to tensorboardX as numbers and numpy arrays. add_graph draws the model's
autograd graph for an example input, as protobuf messages of tensorboardX's own.
"""
from __future__ import annotations

import os
import socket
import time
from datetime import datetime

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..autograd.node import Node
from ..tensor import Tensor


def _tensorboardx():
    try:
        import tensorboardX
    except ImportError:
        raise ImportError("SummaryWriter needs tensorboardX: pip install \"tapegrad[tensorboard]\" "
                          "(or pip install tensorboardX)") from None
    return tensorboardX


def _value(x):
    """A scalar as a Python float (a one-element tensor or array included)."""
    if isinstance(x, Tensor):
        return float(x.detach().cpu().item())
    if isinstance(x, np.ndarray):
        return float(x.item())
    return x


def _array(x):
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


class SummaryWriter:
    """Writes scalars, histograms, text, hyperparameters and the model's graph to an event file
    in `log_dir` (default runs/<date>_<host><comment>), as torch.utils.tensorboard's."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        tbx = _tensorboardx()
        if log_dir is None:
            log_dir = os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_"
                                   + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self._writer = tbx.SummaryWriter(logdir=self.log_dir, purge_step=purge_step,
                                         max_queue=max_queue, flush_secs=flush_secs,
                                         filename_suffix=filename_suffix)

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        self._writer.add_scalar(tag, _value(scalar_value), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each tag is a run of its own, log_dir/main_tag/tag."""
        self._writer.add_scalars(main_tag, {k: _value(v) for k, v in tag_scalar_dict.items()},
                                 global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        self._writer.add_histogram(tag, _array(values), global_step, bins, walltime, max_bins)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """The hyperparameters and their metrics, in the run `run_name` (a time stamp by
        default) under log_dir. hparam_domain_discrete ({name: [values]}) gives the values a
        hyperparameter can take, which TensorBoard's HParams tab lists; without it TensorBoard
        infers them from the runs."""
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("add_hparams: hparam_dict and metric_dict must be dicts, got "
                            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
        hparams = {k: _value(v) for k, v in hparam_dict.items()}
        metrics = {k: _value(v) for k, v in metric_dict.items()}
        from tensorboardX.summary import hparams as hparams_summaries

        experiment, start, end = hparams_summaries(hparams, metrics)
        if hparam_domain_discrete is not None:
            _check_domains(hparams, hparam_domain_discrete)
            _add_domains(experiment, hparam_domain_discrete)
        # as tensorboardX's add_hparams: a run of its own with the three summaries and the metrics
        run = os.path.join(self.log_dir, run_name or str(time.time()))
        with _tensorboardx().SummaryWriter(logdir=run) as w:
            for summary in (experiment, start, end):
                w.file_writer.add_summary(summary)
            for k, v in metrics.items():
                w.add_scalar(k, v, global_step)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The graph of model(*input_to_model): one node per op of its autograd graph, the
        parameters named as in model.named_parameters()."""
        graph = graph_def(model, input_to_model)
        if verbose:
            print(graph)
        from tensorboardX.proto import event_pb2

        self._writer._get_file_writer().add_event(event_pb2.Event(graph_def=graph.SerializeToString()))

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_domains(hparams: dict, domains) -> None:
    """hparam_domain_discrete as PyTorch takes it: {name of a hyperparameter: a list of values
    of its type}."""
    if not isinstance(domains, dict):
        raise TypeError(f"add_hparams: hparam_domain_discrete must be a dict, got {type(domains).__name__}")
    for name, values in domains.items():
        if name not in hparams:
            raise ValueError(f"add_hparams: hparam_domain_discrete names {name!r}, which hparam_dict "
                             f"does not have (it has {sorted(hparams)})")
        if not isinstance(values, list) or not values:
            raise TypeError(f"add_hparams: the domain of {name!r} must be a non-empty list, got {values!r}")
        kind = bool if isinstance(hparams[name], bool) else str if isinstance(hparams[name], str) else (int, float)
        for v in values:
            if not isinstance(v, kind) or (kind == (int, float) and isinstance(v, bool)):
                raise TypeError(f"add_hparams: the domain of {name!r} holds {v!r}, not of the type of "
                                f"its value {hparams[name]!r}")


def _add_domains(experiment, domains: dict) -> None:
    """Writes the discrete domains into the experiment summary's HParamInfos (its plugin data,
    an HParamsPluginData message of tensorboardX's own protos)."""
    from google.protobuf import struct_pb2
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    meta = experiment.value[0].metadata
    data = HParamsPluginData.FromString(meta.plugin_data.content)
    for info in data.experiment.hparam_infos:
        values = domains.get(info.name)
        if values is None:
            continue
        for v in values:
            if isinstance(v, bool):
                info.domain_discrete.values.append(struct_pb2.Value(bool_value=v))
            elif isinstance(v, str):
                info.domain_discrete.values.append(struct_pb2.Value(string_value=v))
            else:
                info.domain_discrete.values.append(struct_pb2.Value(number_value=float(v)))
    meta.plugin_data.content = data.SerializeToString()


def graph_def(model, inputs):
    """A GraphDef of the ops that compute model(*inputs), walked back from its outputs."""
    from tensorboardX.proto import graph_pb2, node_def_pb2, versions_pb2, attr_value_pb2, tensor_shape_pb2

    args = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    names = {id(p): "parameters/" + n.replace(".", "/") for n, p in model.named_parameters()}
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            names[id(a)] = f"input/{i}"
    with enable_grad():
        out = model(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    nodes, ids, counts = [], {}, {}

    def shape_attr(shape):
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=int(s)) for s in shape]
        return {"_output_shapes": attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(
            shape=[tensor_shape_pb2.TensorShapeProto(dim=dims)]))}

    def name_of(obj):
        key = id(obj)
        if key in ids:
            return ids[key]
        if isinstance(obj, Node):
            op = obj.name().removesuffix("Backward0")
            counts[op] = counts.get(op, 0) + 1
            name = f"ops/{op}_{counts[op]}"
            ids[key] = name
            inputs = [name_of(e) for e in obj.next_edges if e is not None]
            nodes.append(node_def_pb2.NodeDef(name=name, op=op, input=inputs))
        else:  # a leaf tensor
            name = names.get(key, f"tensors/{len(ids)}")
            ids[key] = name
            op = "Tensor" if key not in names else ("Input" if names[key].startswith("input/") else "Parameter")
            nodes.append(node_def_pb2.NodeDef(name=name, op=op, attr=shape_attr(obj.shape)))
        return name

    for a in args:  # the inputs, also those that no gradient reaches
        if isinstance(a, Tensor):
            name_of(a)
    for i, o in enumerate(outs):
        if isinstance(o, Tensor):
            src = [name_of(o.grad_fn)] if o.grad_fn is not None else []
            nodes.append(node_def_pb2.NodeDef(name=f"output/{i}", op="Output", input=src,
                                              attr=shape_attr(o.shape)))
    return graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=22))
