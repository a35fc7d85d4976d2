"""Moving the pretrained SchNet to another potential energy surface, energy only (chapter 4)."""
