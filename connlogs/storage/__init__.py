"""How connection logs are stored past one table (docs/scaling.md, "Storage").

* ``ids``: time-ordered row ids whose time is the row's ``connect_time``;
* ``fields``: the primary-key field that makes lookups by id name their partition;
* ``models``: the tables derived from the log (connection keys, hourly rollups);
* ``rollups``: the rollup's cells, how every write keeps them, how the chart reads them;
* ``ddl``: the PostgreSQL layout (partitioned table, key table and rollup triggers);
* ``partitions``: monthly partitions made ahead, and dropped by retention;
* ``conversion``: a plain table turned into the partitioned layout, in place or online.

SQLite keeps one plain table with the same models; its rollups are kept by triggers too.
"""
