"""Each retailer is a partition: its key is the retailer's slug (``nationwide-plants``)."""

import dagster as dg

retailers = dg.DynamicPartitionsDefinition(name="retailers")
