"""What the demo's feature values describe, by the columns a flight is joined on."""

from __future__ import annotations

from featurelake import Entity

carrier = Entity("carrier", join_keys={"carrier": "string"}, description="an airline, by its two-letter code")
origin_airport = Entity("origin_airport", join_keys={"origin": "string"}, description="the departure airport")
route = Entity("route", join_keys={"origin": "string", "dest": "string"}, description="origin -> destination")
aircraft_tail = Entity("aircraft", join_keys={"tailnum": "string"}, description="an aircraft, by its tail number")
departure_hour = Entity(
    "departure_hour",
    join_keys={"year": "int", "month": "int", "day": "int", "hour": "int"},
    description="an hour of a day, New York time",
)
