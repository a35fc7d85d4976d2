"""Small helpers every part uses: :mod:`~hydronet_nb.utils.files` (the one atomic write, checksums),
:mod:`~hydronet_nb.utils.config` (config files and their validation), :mod:`~hydronet_nb.utils.resources`
(where the shipped files live), :mod:`~hydronet_nb.utils.runlock` (one writer per run folder, the line an
interrupted command ends with)."""
