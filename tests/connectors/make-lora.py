#!/usr/bin/env python3
"""make-lora.py - write a LoRA adapter for an F32 GGUF model and the model
with that adapter merged in (Python 3 standard library only).

The adapter uses the layout of llama.cpp's convert_lora_to_gguf.py:
general.type = "adapter", adapter.type = "lora", adapter.lora.alpha, and for
each adapted weight W (ne = n_in x n_out) the tensors "<W>.lora_a"
(ne = n_in x rank) and "<W>.lora_b" (ne = rank x n_out). The merged model is
the base with W' = W + scale * alpha / rank * B A, so its logits must match
the base model run with the adapter at that scale.

Usage:
  make-lora.py BASE.gguf OUTDIR [--rank R] [--alpha A] [--scale S] [--seed N]
  make-lora.py BASE.gguf OUTDIR --adapter-only [--rank R]   (any tensor types: only
               lora-f32.gguf and lora-f16.gguf, e.g. for speed measurements)

Writes in OUTDIR:
  lora-f32.gguf          adapter, F32 tensors
  lora-f16.gguf          the same values in F16 (they are exactly representable)
  merged.gguf            base with the adapter merged at --scale
  bad-shape.gguf         A and B of one weight swapped (shape error)
  bad-name.gguf          an adapter for a weight the base lacks
  bad-arch.gguf          general.architecture of another model
  bad-norm.gguf          an adapter for a norm vector (not a matmul weight)
  bad-odd.gguf           a .lora_a without its .lora_b
"""
import argparse
import os
import random
import struct
import sys

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = \
    range(13)
SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
          T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
DT_F32, DT_F16 = 0, 1
ALIGN = 32


# ---- reading ----

class Reader:
    def __init__(self, data):
        self.d = data
        self.o = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode("utf-8")
        self.o += n
        return s

    def value(self, t):
        if t == T_STR:
            return self.string()
        if t == T_ARR:
            et = self.take("<I")
            n = self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def read_gguf(path, shapes_only=False):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        sys.exit("make-lora: '%s' is not a GGUF file" % path)
    r.o = 4
    version = r.take("<I")
    n_t = r.take("<Q")
    n_kv = r.take("<Q")
    kv = []
    align = ALIGN
    for _ in range(n_kv):
        k = r.string()
        t = r.take("<I")
        v = r.value(t)
        kv.append((k, t, v))
        if k == "general.alignment":
            align = v
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        dt = r.take("<I")
        off = r.take("<Q")
        infos.append((name, ne, dt, off))
    base = (r.o + align - 1) // align * align
    tensors = []
    for name, ne, dt, off in infos:
        n = 1
        for x in ne:
            n *= x
        if shapes_only:
            tensors.append((name, ne, None))
            continue
        if dt != DT_F32:
            sys.exit("make-lora: tensor '%s' is not F32; use an F32 base model" % name)
        vals = list(struct.unpack_from("<%df" % n, data, base + off))
        tensors.append((name, ne, vals))
    return version, kv, tensors


# ---- writing ----

def w_str(out, s):
    b = s.encode("utf-8")
    out += struct.pack("<Q", len(b)) + b


def w_value(out, t, v):
    if t == T_STR:
        w_str(out, v)
    elif t == T_ARR:
        et, items = v
        out += struct.pack("<IQ", et, len(items))
        for it in items:
            w_value(out, et, it)
    else:
        out += struct.pack(SCALAR[t], v)


def f16_bits(x):
    return struct.unpack("<H", struct.pack("<e", x))[0]


def write_gguf(path, kv, tensors, dtype=DT_F32):
    """tensors: [(name, ne, values)]; 1-D tensors always F32."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        w_str(out, k)
        out += struct.pack("<I", t)
        w_value(out, t, v)
    blobs = []
    off = 0
    for name, ne, vals in tensors:
        dt = dtype if len(ne) > 1 else DT_F32
        if dt == DT_F16:
            blob = struct.pack("<%de" % len(vals), *vals)
        else:
            blob = struct.pack("<%df" % len(vals), *vals)
        w_str(out, name)
        out += struct.pack("<I", len(ne))
        for x in ne:
            out += struct.pack("<Q", x)
        out += struct.pack("<IQ", dt, off)
        blobs.append(blob)
        off += (len(blob) + ALIGN - 1) // ALIGN * ALIGN
    out += b"\0" * ((-len(out)) % ALIGN)
    for blob in blobs:
        out += blob + b"\0" * ((-len(blob)) % ALIGN)
    with open(path, "wb") as f:
        f.write(out)


# ---- the adapter ----

ADAPTED = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("outdir")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=8.0)
    ap.add_argument("--scale", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--adapter-only", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    version, kv, tensors = read_gguf(a.base, a.adapter_only)
    arch = next(v for k, t, v in kv if k == "general.architecture")
    os.makedirs(a.outdir, exist_ok=True)

    def small():
        # k/256 with |k| <= 48: exact in F16, so the F16 adapter equals the F32 one
        return rng.randint(-48, 48) / 256.0

    lora = []   # (name, ne, vals)
    delta = {}  # weight name -> merged values
    factor = a.scale * a.alpha / a.rank
    r = a.rank
    for name, ne, vals in tensors:
        if len(ne) != 2 or not any(("." + s + ".") in name for s in ADAPTED):
            continue
        n_in, n_out = ne
        A = [small() for _ in range(r * n_in)]   # r rows of n_in: A[k][i]
        B = [small() for _ in range(n_out * r)]  # n_out rows of r: B[o][k]
        lora.append((name + ".lora_a", [n_in, r], A))
        lora.append((name + ".lora_b", [r, n_out], B))
        if a.adapter_only:
            continue
        merged = list(vals)
        for o in range(n_out):
            bo = B[o * r:(o + 1) * r]
            row = o * n_in
            for i in range(n_in):
                acc = 0.0
                for k in range(r):
                    acc += bo[k] * A[k * n_in + i]
                merged[row + i] = vals[row + i] + factor * acc
        delta[name] = merged

    head = [("general.architecture", T_STR, arch), ("general.type", T_STR, "adapter"),
            ("adapter.type", T_STR, "lora"), ("adapter.lora.alpha", T_F32, a.alpha)]
    write_gguf(os.path.join(a.outdir, "lora-f32.gguf"), head, lora)
    write_gguf(os.path.join(a.outdir, "lora-f16.gguf"), head, lora, DT_F16)
    if a.adapter_only:
        print("make-lora: %d adapted weights, rank %d (adapter only)" % (len(lora) // 2, r))
        return
    merged = [(n, ne, delta.get(n, v)) for n, ne, v in tensors]
    write_gguf(os.path.join(a.outdir, "merged.gguf"), kv, merged)

    # malformed adapters for the error paths
    (an, ane, av), (bn, bne, bv) = lora[0], lora[1]
    write_gguf(os.path.join(a.outdir, "bad-shape.gguf"), head,
               [(an, bne, bv), (bn, ane, av)] + lora[2:])
    write_gguf(os.path.join(a.outdir, "bad-name.gguf"), head,
               lora + [("blk.99.attn_q.weight.lora_a", ane, av),
                       ("blk.99.attn_q.weight.lora_b", bne, bv)])
    head_arch = [(k, t, ("qwen2" if k == "general.architecture" else v)) for k, t, v in head]
    write_gguf(os.path.join(a.outdir, "bad-arch.gguf"), head_arch, lora)
    norm = next(n for n, ne, v in tensors if n.endswith("attn_norm.weight"))
    norm_ne = next(ne for n, ne, v in tensors if n == norm)
    write_gguf(os.path.join(a.outdir, "bad-norm.gguf"), head,
               [(norm + ".lora_a", [norm_ne[0], r], [0.0] * (norm_ne[0] * r)),
                (norm + ".lora_b", [r, 1], [0.0] * r)])
    write_gguf(os.path.join(a.outdir, "bad-odd.gguf"), head, lora[:3])
    print("make-lora: %d adapted weights, rank %d, alpha %g, merged at scale %g"
          % (len(lora) // 2, r, a.alpha, a.scale))


if __name__ == "__main__":
    main()
