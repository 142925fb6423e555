"""Argument checks for the public API.

Every check raises ``ValueError`` (wrong value or shape) or ``TypeError`` (wrong type or dtype)
with a message that names the argument and says what was expected, so that bad input never
surfaces as a broadcasting error from deep inside the pass. The checks cost O(sum of sizes of
x and t) plus O(L) shape comparisons: nothing that grows like the matrix products. Parameters
are checked for NaN and inf through the pre-activations they produce (``forward_pass``).
"""

from __future__ import annotations

import numbers
import threading
import weakref
from collections.abc import Sequence

import numpy as np

from .activations import ACTIVATIONS, Activation

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
VARIANTS = ("diag", "hadamard")

Params = list[tuple[np.ndarray, np.ndarray]]


def check_sizes(sizes: object) -> list[int]:
    """Layer widths [l0, l1, ..., lL]: at least two positive integers."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes: expected a sequence of layer widths [l0, l1, ..., lL], got {type(sizes).__name__}")
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least two widths (input and output), got {list(sizes)}")
    for k, width in enumerate(sizes):
        if isinstance(width, bool) or not isinstance(width, numbers.Integral):
            raise TypeError(f"sizes[{k}]: expected an integer width, got {width!r}")
        if width <= 0:
            raise ValueError(f"sizes[{k}]: expected a positive width, got {width}")
    return [int(width) for width in sizes]


def check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def _float_array(value: object, name: str) -> np.ndarray:
    """The argument as an array (no copy for arrays), of float32 or float64."""
    array = value if type(value) is np.ndarray else np.asarray(value)  # the common case, without a call
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float32 or float64 array, got dtype {array.dtype}")
    return array


def check_params(params: object) -> Params:
    """A non-empty list of (W, b) pairs that chain: W[k] is (l_k, l_{k-1}), b[k] is (l_k,)."""
    if isinstance(params, (str, bytes, np.ndarray)) or not isinstance(params, Sequence):
        raise TypeError(f"params: expected a list of (W, b) pairs, got {type(params).__name__}")
    if len(params) == 0:
        raise ValueError("params: expected at least one (W, b) layer, got an empty list")
    checked: Params = []
    dtype = None
    for k, layer in enumerate(params, start=1):
        name = f"params[{k - 1}]"
        if isinstance(layer, (str, bytes)) or not isinstance(layer, Sequence) or len(layer) != 2:
            raise TypeError(f"{name}: expected a (W, b) pair for layer {k}, got {type(layer).__name__}")
        W, b = layer
        if not (
            type(W) is np.ndarray and type(b) is np.ndarray and W.dtype in FLOAT_DTYPES and b.dtype in FLOAT_DTYPES
        ):
            W = _float_array(W, f"{name}[0] (W of layer {k})")  # converts, or names the bad argument
            b = _float_array(b, f"{name}[1] (b of layer {k})")
        if W.ndim != 2 or 0 in W.shape:
            raise ValueError(
                f"{name}[0] (W of layer {k}): expected a non-empty 2-d array (l_{k}, l_{k - 1}), got shape {W.shape}"
            )
        if b.shape != (W.shape[0],):
            raise ValueError(
                f"{name}[1] (b of layer {k}): expected shape ({W.shape[0]},) to match W of shape {W.shape}, "
                f"got {b.shape}"
            )
        if checked and W.shape[1] != checked[-1][0].shape[0]:
            raise ValueError(
                f"{name}[0] (W of layer {k}): layers do not chain: expected {checked[-1][0].shape[0]} columns "
                f"(the width of layer {k - 1}), got shape {W.shape}"
            )
        if dtype is None:
            dtype = W.dtype
        if W.dtype != dtype or b.dtype != dtype:
            raise TypeError(
                f"params: expected one dtype for every W and b, got {dtype} and {W.dtype}/{b.dtype} in layer {k}"
            )
        checked.append((W, b))
    return checked


def check_data(value: object, name: str, rows: int, dtype: np.dtype, batch: int | None = None) -> np.ndarray:
    """x or t: a finite 2-d array with ``rows`` rows (one column per sample), of the params' dtype."""
    array = _float_array(value, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-d array of shape ({rows}, batch), one column per sample, got shape {array.shape}"
        )
    if array.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows to match the network, got shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one sample (column), got shape {array.shape}")
    if batch is not None and array.shape[1] != batch:
        raise ValueError(f"{name}: expected {batch} columns, the batch size of x, got {array.shape[1]}")
    if array.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} to match params, got {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return array


def check_activations(activation: object, depth: int) -> list[Activation]:
    """One activation name for every layer, or a sequence of ``depth`` names."""
    names = [activation] * depth if isinstance(activation, str) else activation
    if not isinstance(names, Sequence):
        raise TypeError(f"activation: expected a name or a list of {depth} names, got {type(activation).__name__}")
    if len(names) != depth:
        raise ValueError(f"activation: expected one name or a list of {depth} names (one per layer), got {len(names)}")
    for name in names:
        if name not in ACTIVATIONS:
            raise ValueError(f"activation: unknown name {name!r}, expected one of {sorted(ACTIVATIONS)}")
    return [ACTIVATIONS[name] for name in names]


def check_variant(variant: object) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {list(VARIANTS)}, got {variant!r}")
    return variant


def check_positive(value: object, name: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number{' or None' if allow_none else ''}, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps: expected a non-negative integer, got {steps!r}")
    if steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps}")
    return int(steps)


def check_finite_layer(params: Params, k: int) -> None:
    """Called when layer k's pre-activation came out non-finite: name a non-finite W[k] or b[k].

    Finite parameters can still overflow (weights near the float maximum); that is left to the
    caller's cost, which then shows it.
    """
    for index, (array, what) in enumerate(zip(params[k - 1], ("W", "b"))):
        if not np.isfinite(array).all():
            raise ValueError(
                f"params[{k - 1}][{index}] ({what} of layer {k}): expected finite values, found NaN or inf"
            )


def check_batch_size(batch_size: object, samples: int) -> int | None:
    """None (full batch) or an integer 1 <= b <= d."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(
            f"batch_size: expected None or an integer from 1 to {samples} (the samples in x), got {batch_size!r}"
        )
    if not 1 <= batch_size <= samples:
        raise ValueError(
            f"batch_size: expected None or an integer from 1 to {samples} (the samples in x), got {batch_size}"
        )
    return int(batch_size)


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def check_out(out: object, params: Params, inputs: list[np.ndarray], samples: int | None = None) -> Params:
    """``out`` for ``gradients``: one writeable (dW, db) pair per layer, exactly the parameters'
    shapes and dtype, overlapping neither each other nor any input (params, x, t). With ``samples``
    (``per_sample_gradients``) each shape has that many samples in front: (d, *shape).

    A hot loop passes the same arrays every call: the overlap check, the one part that is not a
    few attribute lookups, is skipped when the very same objects were checked last time (this
    thread keeps weak references to them: nothing is kept alive, and a freed array never matches).
    """
    if type(out) not in (list, tuple) or len(out) != len(params):
        raise ValueError(
            f"out: expected None or a list of {len(params)} (dW, db) pairs, one per layer, got {out!r:.80}"
        )
    flat = []
    for k, (pair, layer) in enumerate(zip(out, params)):
        if type(pair) not in (list, tuple) or len(pair) != 2:
            raise ValueError(f"out[{k}]: expected a (dW, db) pair for layer {k + 1}, got {type(pair).__name__}")
        for i, (array, like) in enumerate(zip(pair, layer)):
            shape = like.shape if samples is None else (samples, *like.shape)
            if type(array) is not np.ndarray or array.shape != shape or array.dtype != like.dtype:
                got = (
                    f"shape {array.shape}, dtype {array.dtype}"
                    if isinstance(array, np.ndarray)
                    else type(array).__name__
                )
                raise ValueError(
                    f"out[{k}][{i}] ({('dW', 'db')[i]} of layer {k + 1}): expected an array of shape {shape} "
                    f"and dtype {like.dtype}, got {got}"
                )
            if not array.flags.writeable:
                raise ValueError(f"out[{k}][{i}] ({('dW', 'db')[i]} of layer {k + 1}): expected a writeable array")
        flat += pair
    checked = flat + inputs
    last = _last_checked.__dict__.get("refs", [])
    if len(last) != len(checked) or any(ref() is not a for ref, a in zip(last, checked)):
        _check_no_overlap(flat, inputs)
        _last_checked.refs = [weakref.ref(a) for a in checked]
    return [(flat[2 * k], flat[2 * k + 1]) for k in range(len(params))]


_last_checked = threading.local()


def check_vector(vector: object, params: Params) -> Params:
    """A direction in parameter space for ``jvp``, ``hvp`` and ``gnvp``: one (V_W, V_b) pair per layer,
    exactly the parameters' shapes and dtype, finite."""
    if type(vector) not in (list, tuple) or len(vector) != len(params):
        raise ValueError(
            f"vector: expected a list of {len(params)} (V_W, V_b) pairs in the parameters' shapes, got {vector!r:.80}"
        )
    checked = []
    for k, (pair, layer) in enumerate(zip(vector, params)):
        if type(pair) not in (list, tuple) or len(pair) != 2:
            raise ValueError(f"vector[{k}]: expected a (V_W, V_b) pair for layer {k + 1}, got {type(pair).__name__}")
        arrays = []
        for i, (array, like) in enumerate(zip(pair, layer)):
            name = f"vector[{k}][{i}] ({('V_W', 'V_b')[i]} of layer {k + 1})"
            if not isinstance(array, np.ndarray) or array.shape != like.shape or array.dtype != like.dtype:
                got = (
                    f"shape {array.shape}, dtype {array.dtype}"
                    if isinstance(array, np.ndarray)
                    else type(array).__name__
                )
                raise ValueError(f"{name}: expected an array of shape {like.shape} and dtype {like.dtype}, got {got}")
            if not np.isfinite(array).all():
                raise ValueError(f"{name}: expected finite values, found NaN or inf")
            arrays.append(array)
        checked.append(tuple(arrays))
    return checked


def _check_no_overlap(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> None:
    """Arrays can overlap only if they view the same memory owner, so owners are compared first
    (attribute lookups, no data read) and only arrays of one owner are checked exactly."""
    arrays = [(True, i, a) for i, a in enumerate(outputs)] + [(False, i, a) for i, a in enumerate(inputs)]
    by_owner: dict[int, list] = {}
    for entry in arrays:
        by_owner.setdefault(id(_owner(entry[2])), []).append(entry)
    for group in by_owner.values():
        for n, (is_out, index, a) in enumerate(group):
            for other_is_out, other_index, other in group[n + 1 :]:
                if (is_out or other_is_out) and np.shares_memory(a, other):
                    k, i = divmod(index if is_out else other_index, 2)
                    raise ValueError(
                        f"out[{k}][{i}]: expected memory of its own, but it overlaps another output or an input"
                    )


def _owner(array: np.ndarray) -> object:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array if array.base is None else array.base
