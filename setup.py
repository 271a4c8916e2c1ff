"""Package layout: the stage folders the user asked for (suitability/, training/, models/, mapping/,
evaluation/) stay top-level folders of the repository but install as `irrmap.suitability`, `irrmap.training`,
... so that nothing installs a generic top-level module name. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

STAGE_PACKAGES = ("suitability", "training", "models", "mapping", "evaluation")

packages = find_packages(include=["irrmap", "irrmap.*"])
package_dir = {"irrmap": "irrmap"}
for stage in STAGE_PACKAGES:
    package_dir[f"irrmap.{stage}"] = stage
    packages += [f"irrmap.{stage}", *(f"irrmap.{stage}.{sub}" for sub in find_packages(stage))]

setup(packages=packages, package_dir=package_dir)
