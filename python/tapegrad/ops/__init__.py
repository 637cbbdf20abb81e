"""Ops, one module per kernel family (mirroring csrc/cpu): each op is one Node subclass
(forward and backward together) plus a snake_case function."""
