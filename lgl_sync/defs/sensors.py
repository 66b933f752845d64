"""Sensors: retailer partitions follow the control plane."""

import dagster as dg

from lgl_sync.control_plane.retailers import partition_changes
from lgl_sync.defs.partitions import retailers
from lgl_sync.defs.resources import ControlPlaneResource


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def retailer_partitions_sensor(
    context: dg.SensorEvaluationContext, control_plane: ControlPlaneResource
) -> dg.SensorResult:
    """Adds a partition for each new enabled retailer and removes those of deleted ones;
    disabled retailers keep theirs (and their history) but get no runs."""
    existing = set(context.instance.get_dynamic_partitions("retailers"))
    add, remove = partition_changes(control_plane.engine(), existing)
    requests = []
    if add:
        requests.append(retailers.build_add_request(add))
        context.log.info("adding retailer partitions: %s", ", ".join(add))
    if remove:
        requests.append(retailers.build_delete_request(remove))
        context.log.info("removing retailer partitions: %s", ", ".join(remove))
    return dg.SensorResult(dynamic_partitions_requests=requests)


# Evaluates retailer_inventory's eager condition: every retailer syncs after a new snapshot.
inventory_automation = dg.AutomationConditionSensorDefinition(
    "inventory_automation",
    target=dg.AssetSelection.assets("retailer_inventory"),
    # Soon after a snapshot (a webhook's included): each retailer's stock follows in seconds.
    minimum_interval_seconds=3,
    default_status=dg.DefaultSensorStatus.RUNNING,
    # One run per retailer, submitted by the tick itself. With backfills (Dagster's default
    # for a tick of several partitions) the runs waited for the backfill daemon's next pass:
    # up to a minute after the snapshot.
    emit_backfills=False,
)
