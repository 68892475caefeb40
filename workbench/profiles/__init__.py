"""Profiles: the pydantic models of a profile file, and loading/saving them with file:line:field errors."""

from workbench.profiles.load import (
    DELETE,
    MAX_PROFILE_BYTES,
    LoadedProfile,
    load_profile,
    loads_profile,
    missing_env,
    save_profile,
    upgrade_profile,
)
from workbench.profiles.models import Model, Profile, Provider, Route, SimSettings, Timeouts
from workbench.profiles.steps import GenerateStep, Step, StepModel, Target

__all__ = [
    "DELETE",
    "MAX_PROFILE_BYTES",
    "LoadedProfile",
    "Model",
    "Profile",
    "Provider",
    "Route",
    "SimSettings",
    "GenerateStep",
    "Step",
    "StepModel",
    "Target",
    "Timeouts",
    "load_profile",
    "loads_profile",
    "missing_env",
    "save_profile",
    "upgrade_profile",
]
