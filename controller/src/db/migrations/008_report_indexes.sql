-- Reliability reports read, per asset, the span of metric windows and which model versions ran
-- (reliability/source.ts: dataRange, versions). Without an index on the asset every report scanned
-- every metric window of the fleet (bench:reports, 10,000 devices x 90 days). Covering: the report
-- reads these columns only, so it never touches the table's rows.
CREATE INDEX metric_windows_asset ON metric_windows (asset_id, model_name, model_version, window_start, window_end);
