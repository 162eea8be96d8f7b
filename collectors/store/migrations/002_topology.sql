-- The declared topology (docs/architecture.md#the-declared-topology), loaded from YAML by collectors.topology.load_into_store.
-- Loading replaces the whole declaration in one transaction; a live cluster without a
-- topology file leaves these tables empty and the dashboard draws the observed graph alone.
CREATE TABLE topology_services (
    name VARCHAR NOT NULL,
    description VARCHAR,
    side_effect BOOLEAN  -- should react to events; a sync call to it is SYNC_SIDE_EFFECT
);

CREATE TABLE topology_endpoints (
    service VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    route VARCHAR NOT NULL
);

CREATE TABLE topology_topics (
    name VARCHAR NOT NULL,
    producer VARCHAR,
    event_types VARCHAR[],
    schema_version VARCHAR,
    partitions INTEGER,
    envelope VARCHAR,  -- json | cloudevents | none
    dead_letter BOOLEAN,
    dead_letter_of VARCHAR  -- the topic whose failures land here
);

CREATE TABLE topology_groups (
    name VARCHAR NOT NULL,
    service VARCHAR,
    topics VARCHAR[],
    idempotent BOOLEAN,  -- claimed, not measured
    lag_slo_seconds DOUBLE
);

CREATE TABLE topology_sync_edges (
    caller VARCHAR NOT NULL,
    callee VARCHAR NOT NULL,
    method VARCHAR,
    route VARCHAR
);

CREATE TABLE topology_limits (
    name VARCHAR NOT NULL,
    value DOUBLE
);
