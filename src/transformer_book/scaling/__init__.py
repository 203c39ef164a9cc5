"""Part V, scaling up: where a training step's memory and time go (``accounting``), doing more with
one device (``single_device``: gradient accumulation, mixed precision), and training on several
processes with ``torch.distributed`` (``distributed``: DDP, FSDP2, distributed checkpoints; its
command line, ``python -m transformer_book.scaling.train``, runs under ``torchrun``)."""
