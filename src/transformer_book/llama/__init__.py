"""Part IV, the modern decoder: RMSNorm, rotary positions, SwiGLU and grouped-query attention in a
Llama-style model, and real pretrained weights read from a GGUF file."""
