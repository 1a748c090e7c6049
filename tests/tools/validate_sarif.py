#!/usr/bin/env python3
"""Validate SARIF files against the official SARIF 2.1.0 JSON schema.

usage: validate_sarif.py SCHEMA FILE...   (exit 0 when every file is valid; errors on stdout)

The schema is the one Microsoft's SARIF SDK ships (npm @microsoft/sarif-multitool-linux,
sarif-2.1.0.json); .ci/run installs it and sets RHARDEN_SARIF_SCHEMA.
"""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    validator = jsonschema.validators.validator_for(schema)(schema)
    bad = 0
    for path in sys.argv[2:]:
        for error in validator.iter_errors(json.load(open(path))):
            bad += 1
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: /{where}: {error.message}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
