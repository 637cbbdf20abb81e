"""tapegrad.Size: the shape tuple, as torch.Size."""


class Size(tuple):
    __slots__ = ()

    def __repr__(self):
        return f"tapegrad.Size([{', '.join(str(s) for s in self)}])"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n
