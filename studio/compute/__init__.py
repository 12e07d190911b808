"""Compute sizes and the Dask clusters that give them real resources."""

from studio.compute.profiles import PROFILE_NAME, ComputeProfile, default_profiles, load_profiles

__all__ = ["PROFILE_NAME", "ComputeProfile", "default_profiles", "load_profiles"]
