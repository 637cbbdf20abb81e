"""Module: the base class of every layer, with PyTorch's registration rules.

Assigning a Parameter, a Module or (for a registered name) a buffer to an attribute files it in
_parameters / _modules / _buffers; reading it back goes through __getattr__, which Python only
calls after the normal lookup fails. Traversal (parameters, named_modules, state_dict, ...),
train/eval, dtype conversion and state_dict loading follow PyTorch's names and results, so
checkpoints keyed "0.weight" or "layers.1.bias" line up with a PyTorch model of the same shape.

__call__ goes straight to forward unless the module has hooks (nn/hooks.py), so a call without
them costs one Python frame.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from .. import dtypes as _dt
from ..autograd.grad_mode import no_grad
from ..compile import recorder as _graph
from ..tensor import Tensor
from . import hooks as _hooks
from .parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: the keys it did not find and the keys it did not use."""
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return obj.type()
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _add_indent(text: str, spaces: int) -> str:
    """Indent every line but the first (a child's repr nested under its parent's)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _check_name(kind: str, name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


class Module:
    """Base class for all neural-network modules; subclasses assign their parameters and
    submodules in __init__ (after super().__init__()) and define forward()."""

    training: bool
    _module_hooks = None  # a ModuleHooks once a hook is registered

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            extra = ", ".join([repr(a) for a in args] + list(kwargs))
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments: {extra}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        if _graph.active is not None:  # graph mode guards and restores what it calls
            recording = _graph.current()
            if recording is not None:
                recording.saw_module(self)
        if self._module_hooks:
            return _hooks.call(self, self._module_hooks, args, kwargs)
        return self.forward(*args, **kwargs)

    # --- hooks (nn/hooks.py) ----------------------------------------------------------------
    def _hook_registry(self) -> "_hooks.ModuleHooks":
        if self._module_hooks is None:
            self.__dict__["_module_hooks"] = _hooks.ModuleHooks()
        return self._module_hooks

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """hook(module, args) -> None or new args (with_kwargs: hook(module, args, kwargs) ->
        None or (args, kwargs)), before each forward."""
        return self._hook_registry().forward_pre.add(hook, prepend, (hook, with_kwargs))

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """hook(module, args, output) -> None or a new output (with_kwargs: hook(module, args,
        kwargs, output)), after each forward. always_call is accepted; a forward that raises
        runs no hook."""
        return self._hook_registry().forward.add(hook, prepend, (hook, with_kwargs))

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """hook(module, grad_output) -> None or new output gradients, when the gradients of
        the module's outputs are known."""
        return self._hook_registry().backward_pre.add(hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """hook(module, grad_input, grad_output) -> None or new input gradients, when the
        gradients of the module's tensor inputs are computed (None for those that do not
        require grad)."""
        return self._hook_registry().backward.add(hook, prepend)

    # --- registration ---------------------------------------------------------------------
    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A tensor that is module state but not a parameter (BatchNorm's running mean);
        persistent buffers are part of the state_dict."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                "the forward() method."
            )
        self._parameters[name] = param

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        _check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    # --- attribute protocol ---------------------------------------------------------------
    def __getattr__(self, name: str):
        # Only reached when normal lookup fails; reads __dict__ directly so that a half-built
        # instance (copy.deepcopy, unpickling) raises AttributeError instead of recursing.
        d = self.__dict__
        params = d.get("_parameters")
        if params is not None and name in params:
            return params[name]
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        modules = d.get("_modules")
        if modules is not None and name in modules:
            return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            params[name] = None
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(torch.nn.Module or None expected)"
                )
            modules[name] = None
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' (torch.Tensor or None expected)"
                )
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop `name` from every store but `keep` (an attribute changes kind)."""
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            if store != keep:
                d[store].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d.get("_parameters", ()):
            del d["_parameters"][name]
        elif name in d.get("_buffers", ()):
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d.get("_modules", ()):
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        keys.update(self._parameters, self._buffers, self._modules)
        return sorted(k for k in keys if not k[0].isdigit())

    # --- traversal ------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        if recurse:
            modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[store].items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (module_prefix + "." + name if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():  # through train(), so that subclasses may override it
            module.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        recording = _graph.current() if set_to_none else None
        if recording is not None:
            recording.saw_module(self)
            recording.reset_grads.update(id(p) for p in self.parameters())
        for p in self.parameters():
            g = p._grad
            if g is None:
                continue
            if set_to_none:
                p._grad = None
                continue
            if g.grad_fn is not None:
                g = p._grad = g.detach()
            else:
                g._requires_grad = False
            g.zero_()

    # --- dtype and device -----------------------------------------------------------------
    def _apply(self, fn) -> "Module":
        """Replace every parameter's and buffer's values by fn(tensor). Parameters keep their
        identity (their storage is swapped), so optimizers built earlier still hold them."""
        for module in self.modules():
            with no_grad():
                for p in module._parameters.values():
                    if p is None:
                        continue
                    new = fn(p)
                    if new is not p:
                        p._data = new._data
                        p._version[0] += 1
                    if p._grad is not None:
                        p._grad = fn(p._grad)
                for name, b in module._buffers.items():
                    if b is not None:
                        module._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """to(device), to(dtype), to(device, dtype), to(tensor): floating-point parameters and
        buffers take the dtype; integer buffers (num_batches_tracked) keep theirs."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, _dt.device)) or (isinstance(a, int) and not isinstance(a, bool)):
                device = a
            elif a is not None:
                dtype = a
        dev = None if device is None else _dt.to_device(device, "to")
        if dtype is not None:
            dtype = _dt.to_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(
                    f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dtype}"
                )
        if dtype is None and dev is None:
            return self

        def convert(t):  # runs under no_grad: the moved or cast parameter stays a leaf
            t = t if dev is None else t.to(dev)
            return t.to(dtype) if dtype is not None and t.is_floating_point() else t

        return self._apply(convert)

    def float(self) -> "Module":
        return self.to(_dt.float32)

    def double(self) -> "Module":
        return self.to(_dt.float64)

    def type(self, dst_type) -> "Module":
        return self.to(dst_type)

    def cpu(self) -> "Module":
        return self.to(_dt.cpu)

    def cuda(self, device=None) -> "Module":
        dev = _dt.to_device("cuda" if device is None else device, "cuda")
        if dev.type != "cuda":
            raise RuntimeError(f"cuda: expected a CUDA device, got {dev}")
        return self.to(dev)

    # --- state_dict -----------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An OrderedDict of every parameter and persistent buffer, keyed by dotted path;
        values are detached tensors sharing memory with the module's."""
        if args:  # PyTorch's legacy positional form state_dict(destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, expected, missing, errors, assign) -> None:
        local = [(n, p) for n, p in self._parameters.items() if p is not None]
        local += [(n, b) for n, b in self._buffers.items()
                  if b is not None and n not in self._non_persistent_buffers_set]
        for name, current in local:
            key = prefix + name
            expected.add(key)
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like '
                    f"object from checkpoint but received {type(value)}"
                )
                continue
            if tuple(value.shape) != tuple(current.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                    f"checkpoint, the shape in current model is {tuple(current.shape)}."
                )
                continue
            try:
                with no_grad():
                    if assign:
                        self._assign(name, value, current)
                    else:
                        current.copy_(value)
            except Exception as e:  # noqa: BLE001 - reported with the key, as PyTorch does
                errors.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model are '
                    f"{tuple(current.shape)} and whose dimensions in the checkpoint are "
                    f"{tuple(value.shape)}, an exception occurred : {e.args}."
                )

    def _assign(self, name, value, current) -> None:
        """load_state_dict(assign=True): keep the checkpoint's tensor itself."""
        if name in self._parameters:
            p = value if isinstance(value, Parameter) else Parameter(value, current.requires_grad)
            self._parameters[name] = p
        else:
            self._buffers[name] = value

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from `state_dict` into this module's parameters and buffers, in place.

        Raises RuntimeError listing missing and unexpected keys (when strict) and every shape
        mismatch (always); returns (missing_keys, unexpected_keys)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        expected, missing, errors = set(), [], []

        def load(module, prefix):
            module._load_from_state_dict(state_dict, prefix, expected, missing, errors, assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self, "")
        unexpected = [k for k in state_dict if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(self._get_name(), "\n\t".join(errors))
            )
        return _IncompatibleKeys(missing, unexpected)

    # --- repr -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """This module's own settings, shown inside its repr's parentheses."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
