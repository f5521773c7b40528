#!/bin/bash
# Run once by the influxdb:2 image after its first setup (an empty volume): lets the API,
# which queries with InfluxQL over the 1.x /query endpoint, read the bucket with a
# username and password. A later change to these needs "influx v1 auth set-password".
set -euo pipefail

influx v1 dbrp create \
    --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \
    --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --rp autogen \
    --default

influx v1 auth create \
    --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --username "$V1_READER_USERNAME" \
    --password "$V1_READER_PASSWORD" \
    --read-bucket "$DOCKER_INFLUXDB_INIT_BUCKET_ID"
