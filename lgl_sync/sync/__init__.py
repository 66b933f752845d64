"""Each flow of LGL Sync as plain Python (rules, reads, writer); no Dagster here."""
