"""Runs the shared driver contract (contract.py) over every simulated unit and transport."""

from contract import (  # noqa: F401
    fast_unit,
    test_cap_open_sets_the_units_own_cap_or_is_refused,
    test_configure_reads_back,
    test_each_status_dates_its_field_groups,
    test_estop_latches_and_reset_never_reopens,
    test_every_fault_bit_surfaces_as_the_ports_fault,
    test_heartbeat_loss_trips_the_watchdog,
    test_identity,
    test_link_loss_and_reconnect,
    test_open_and_close,
    test_refusals_carry_the_units_code,
    test_slow_fault_bits_surface_too,
    test_status_fields_and_units,
    test_the_heartbeat_echo_follows_the_heartbeats,
    test_trigger_is_seen_in_status_and_as_events,
    test_unit_closes_an_unattended_valve_by_itself,
    unit,
)
