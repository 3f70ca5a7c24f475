"""A CPU stand-in for a tensor on an accelerator, to test the random-stream rule
(methods/runtime/rng.py) without a GPU: an op handed both such a tensor and a torch Generator
fails, as a CUDA op handed a CPU generator does; ``.cpu()`` brings it back as a plain
CPU tensor, as a copy to the host would. Results of other ops stay on the "device"."""
from __future__ import annotations

import torch
from torch.utils._pytree import tree_flatten


class OnDevice(torch.Tensor):

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.cpu:
            with torch._C.DisableTorchFunctionSubclass():
                return args[0].as_subclass(torch.Tensor)
        generators = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Generator)]
        if generators and any(isinstance(a, OnDevice) for a in tree_flatten((args, kwargs))[0]):
            raise RuntimeError(f"{getattr(func, '__name__', func)}: a CPU generator was handed a tensor on the device")
        return super().__torch_function__(func, types, args, kwargs)


def on_device(x: torch.Tensor) -> OnDevice:
    return x.as_subclass(OnDevice)
