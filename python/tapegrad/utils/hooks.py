"""Hook registries (PyTorch's torch.utils.hooks): RemovableHandle, which register_hook and the
Module hook methods return, and the hooks a leaf tensor holds."""
from __future__ import annotations

import itertools
import weakref

_ids = itertools.count()


class RemovableHandle:
    """Removes its hook from the registry it was added to: ``handle.remove()``, or leaving a
    ``with handle:`` block."""

    def __init__(self, registry: dict):
        self.id = next(_ids)
        self._registry = weakref.ref(registry)

    def remove(self) -> None:
        registry = self._registry()
        if registry is not None:
            registry.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class Hooks(dict):
    """An ordered registry {handle id: hook} (a dict subclass, so that a handle can refer to it
    weakly)."""

    def add(self, hook, prepend: bool = False, entry=None) -> RemovableHandle:
        """Registers `hook` (stored as `entry` when given: the hook with its options)."""
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(self)
        self[handle.id] = hook if entry is None else entry
        if prepend:
            self.move_to_front(handle.id)
        return handle

    def move_to_front(self, key) -> None:
        items = [(key, self.pop(key))] + list(self.items())
        self.clear()
        self.update(items)


class LeafHooks:
    """A leaf tensor's hooks: `pre` run on its gradient before it is accumulated into .grad
    (Tensor.register_hook), `post` after, given the tensor
    (Tensor.register_post_accumulate_grad_hook)."""
    __slots__ = ("pre", "post")

    def __init__(self):
        self.pre, self.post = Hooks(), Hooks()
