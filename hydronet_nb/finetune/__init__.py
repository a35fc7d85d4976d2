"""Finetuning the pretrained SchNet on forces of non-minima, with active sampling (chapter 3)."""
