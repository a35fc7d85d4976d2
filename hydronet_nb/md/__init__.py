"""Molecular dynamics with the models (chapter 5): a batched Berendsen integrator and the checks that say when a run broke."""
