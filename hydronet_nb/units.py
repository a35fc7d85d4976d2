"""Units, in one place.

Inside the package every energy is in kcal/mol, every length in Angstrom and every force in
kcal/mol/Angstrom, as in HydroNet and the paper. ASE works in eV and eV/Angstrom: convert only at
that boundary, with the constants below (taken from ASE so both agree to the last digit).
"""
from ase import units as _ase_units

#: one kcal/mol expressed in eV (about 0.0433641)
EV_PER_KCAL_MOL = _ase_units.kcal / _ase_units.mol
#: one eV expressed in kcal/mol (about 23.0605)
KCAL_MOL_PER_EV = 1.0 / EV_PER_KCAL_MOL

ENERGY_UNIT = "kcal/mol"
FORCE_UNIT = "kcal/mol/Å"
LENGTH_UNIT = "Å"


def kcal_mol_to_ev(value):
    """kcal/mol (or kcal/mol/Angstrom) to eV (or eV/Angstrom)."""
    return value * EV_PER_KCAL_MOL


def ev_to_kcal_mol(value):
    """eV (or eV/Angstrom) to kcal/mol (or kcal/mol/Angstrom)."""
    return value * KCAL_MOL_PER_EV
