"""Data standards in and out: SDTM and ADaM datasets (CSV, SAS XPORT)."""
