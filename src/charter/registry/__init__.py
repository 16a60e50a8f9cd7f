"""The register of vendors, projects and devices, and their lifecycles."""
