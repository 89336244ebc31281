"""A small decoder-only transformer: RMSNorm pre-norm, SwiGLU MLP, RoPE, SDPA attention, tied embeddings.

The same blocks serve as a bidirectional encoder (causal=False), which the reward model reuses.

Conventions used throughout the pipeline:
  idx        (B, T) long token ids
  positions  (B, T) long RoPE positions; default arange(T) (+ KV-cache offset). Left-padded batches
             pass per-row positions (index of the token within the row's real tokens).
  attn_mask  (B, T_keys) bool, True = real token, False = padding. T_keys = T without a cache and
             cache.length + T with one (i.e. the mask covers every key the queries can see).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 8000
    block_size: int = 256
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 128
    ffn_hidden: int = 0  # 0 -> SwiGLU hidden = round_up(8/3 * d_model, 8)  (=344 for 128)
    rope_theta: float = 10000.0
    tie_embeddings: bool = True
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % self.n_head != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if (self.d_model // self.n_head) % 2 != 0:
            raise ValueError(f"head dim d_model/n_head = {self.d_model // self.n_head} must be even for RoPE")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def hidden(self) -> int:
        if self.ffn_hidden > 0:
            return self.ffn_hidden
        return 8 * ((int(8 * self.d_model / 3) + 7) // 8)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig keys: {sorted(unknown)}")
        return cls(**d)


class KVCache:
    """Preallocated per-layer key/value buffers, (B, H, T_max, Dh) each, plus the filled length.

    Buffers are allocated on the first write, taking batch, device and dtype from the keys (so it
    works unchanged under autocast). Attention writes at [length, length + T) via `update`; the model
    calls `advance(T)` once after all layers have run.
    """

    def __init__(self, n_layer: int, max_len: int):
        self.n_layer = n_layer
        self.max_len = max_len
        self.length = 0
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, H, T, Dh = k.shape
        start, end = self.length, self.length + T
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: {end} > max_len {self.max_len}")
        if self.k[layer] is None:
            self.k[layer] = k.new_empty(B, H, self.max_len, Dh)
            self.v[layer] = v.new_empty(B, H, self.max_len, Dh)
        kc, vc = self.k[layer], self.v[layer]
        kc[:, :, start:end] = k
        vc[:, :, start:end] = v
        return kc[:, :, :end], vc[:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n


_HAS_RMS_NORM = hasattr(F, "rms_norm")  # torch >= 2.4


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        if _HAS_RMS_NORM:
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim: int, n_pos: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin tables of shape (n_pos, head_dim/2), float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.outer(torch.arange(n_pos, dtype=torch.float64), inv_freq)  # (n_pos, Dh/2)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., B, H, T, Dh); cos/sin (B, 1, T, Dh/2). Rotates the pairs (x[i], x[i + Dh/2])."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_head = cfg.n_head
        self.head_dim = cfg.head_dim
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.proj.residual_out = True  # init marker: scaled std

    def forward(self, x, cos, sin, mask, is_causal, kv_cache):
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
        q, k = apply_rope(qkv[:2], cos.to(qkv.dtype), sin.to(qkv.dtype)).unbind(0)  # rotate q and k in one go
        v = qkv[2]
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer, k, v)  # (B, H, T_keys, Dh)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, H, T, Dh)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.proj(y)

    def forward_rows(self, x, cos, sin, mask, rows):
        """Attention output at one query position per row, `rows` (B,), over every key: (B, C).
        cos/sin (B, 1, T, Dh/2) as in forward; mask None or (B, 1, T, T) bool."""
        B, T, C = x.shape
        b = torch.arange(B, device=x.device)
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
        k = apply_rope(qkv[1], cos.to(qkv.dtype), sin.to(qkv.dtype))
        q = apply_rope(
            qkv[0][b, :, rows][:, :, None],
            cos[b, :, rows][:, :, None].to(qkv.dtype),
            sin[b, :, rows][:, :, None].to(qkv.dtype),
        )  # (B, H, 1, Dh)
        y = F.scaled_dot_product_attention(
            q,
            k,
            qkv[2],
            attn_mask=None if mask is None else mask[b, :, rows][:, :, None],
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, H, 1, Dh)
        return self.proj(y.reshape(B, C))


class SwiGLU(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.hidden = cfg.hidden
        self.up = nn.Linear(cfg.d_model, 2 * cfg.hidden, bias=False)  # gate and up, fused
        self.down = nn.Linear(cfg.hidden, cfg.d_model, bias=False)
        self.down.residual_out = True

    def forward(self, x):
        gate, up = self.up(x).split(self.hidden, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg, layer)
        self.norm2 = RMSNorm(cfg.d_model)
        self.mlp = SwiGLU(cfg)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def forward(self, x, cos, sin, mask, is_causal, kv_cache):
        x = x + self.drop(self.attn(self.norm1(x), cos, sin, mask, is_causal, kv_cache))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x

    def forward_rows(self, x, cos, sin, mask, rows):
        """The block's output at one position per row, (B, d): every key and value still comes from
        all positions, but the query, projection and MLP run on the `rows` positions alone."""
        y = x[torch.arange(x.shape[0], device=x.device), rows]
        y = y + self.drop(self.attn.forward_rows(self.norm1(x), cos, sin, mask, rows))
        return y + self.drop(self.mlp(self.norm2(y)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig, *, causal: bool = True):
        super().__init__()
        self.cfg = cfg
        self.causal = causal
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm_f = RMSNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(cfg.head_dim, cfg.block_size, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)  # (block_size, Dh/2)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            std = 0.02 / math.sqrt(2 * self.cfg.n_layer) if getattr(m, "residual_out", False) else 0.02
            nn.init.normal_(m.weight, mean=0.0, std=std)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights counted once

    def new_kv_cache(self, max_len: int | None = None) -> KVCache:
        return KVCache(self.cfg.n_layer, max_len or self.cfg.block_size)

    def _mask(self, attn_mask, T: int, offset: int, device) -> tuple[torch.Tensor | None, bool]:
        """Returns (sdpa bool mask (B, 1, T, T_keys) or None, is_causal)."""
        if attn_mask is None:
            if offset == 0:
                return None, self.causal and T > 1  # fast path
            if T == 1 or not self.causal:
                return None, False  # one new query sees every cached key
        T_keys = offset + T
        if attn_mask is not None:
            if attn_mask.shape[-1] != T_keys:
                raise ValueError(
                    f"attn_mask covers {attn_mask.shape[-1]} keys, expected {T_keys} (cache {offset} + {T})"
                )
            mask = attn_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T_keys)
            if T == 1:
                return mask, False
        else:
            mask = torch.ones(1, 1, 1, T_keys, dtype=torch.bool, device=device)
        q_pos = torch.arange(offset, T_keys, device=device)[:, None]  # (T, 1) absolute slots of queries
        k_pos = torch.arange(T_keys, device=device)[None, :]  # (1, T_keys)
        if self.causal:
            mask = mask & (k_pos <= q_pos)
        # Every query may see itself: a left-padding query otherwise has no visible key; some SDPA
        # backends return NaN there, which would leak into real tokens via 0 * NaN in the next layer.
        mask = mask | (k_pos == q_pos)
        return mask, False

    def hidden_states(
        self, idx, *, positions=None, attn_mask=None, kv_cache: KVCache | None = None, rows: torch.Tensor | None = None
    ):
        """Final-normed hidden states (B, T, d); with `rows` (B,) positions, those positions' only, (B, d).

        `rows` is for a bidirectional encoder read at one position (the reward model's EOS pooling): no
        later layer needs the last block's other outputs, so it computes queries, projection and MLP
        for those positions alone (keys and values still for all). Same values as indexing the full
        output, at about (n_layer - 1) / n_layer of the cost."""
        B, T = idx.shape
        if rows is not None and (self.causal or kv_cache is not None):
            raise ValueError("hidden_states(rows=...) is for the bidirectional encoder without a KV cache")
        offset = kv_cache.length if kv_cache is not None else 0
        if positions is None:
            if offset + T > self.cfg.block_size:
                raise ValueError(f"sequence length {offset + T} exceeds block_size {self.cfg.block_size}")
            positions = torch.arange(offset, offset + T, device=idx.device).expand(B, T)
        x = self.drop(self.wte(idx))  # (B, T, d)
        cos = self.rope_cos[positions].unsqueeze(1)  # (B, 1, T, Dh/2)
        sin = self.rope_sin[positions].unsqueeze(1)
        mask, is_causal = self._mask(attn_mask, T, offset, idx.device)
        if rows is not None:
            for block in self.blocks[:-1]:
                x = block(x, cos, sin, mask, is_causal, None)
            return self.norm_f(self.blocks[-1].forward_rows(x, cos, sin, mask, rows))
        for block in self.blocks:
            x = block(x, cos, sin, mask, is_causal, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(T)
        return self.norm_f(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """LM head on hidden states (..., d) -> float32 logits (..., V)."""
        return self.lm_head(h).float()

    def forward(self, idx, *, positions=None, attn_mask=None, kv_cache: KVCache | None = None):
        """Logits (B, T, V) float32."""
        h = self.hidden_states(idx, positions=positions, attn_mask=attn_mask, kv_cache=kv_cache)
        return self.logits(h)
