WITH records AS (
  SELECT "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "start", "end", "action", "log_status", "vpc_id", "subnet_id", "instance_id", "tcp_flags", "pkt_srcaddr", "pkt_dstaddr", "az_id", "region"
  FROM vpc_flow_logs
  WHERE log_status = 'OK'
    AND day >= '2026/11/20'
    AND "end" >= 1795132800
    AND day <= '2026/11/21'
    AND start <= 1795219199
),
flows AS (
  SELECT r.*, CASE WHEN r.pkt_srcaddr IS NULL OR r.pkt_srcaddr IN ('', '-') THEN r.srcaddr ELSE r.pkt_srcaddr END AS a, CASE WHEN r.pkt_dstaddr IS NULL OR r.pkt_dstaddr IN ('', '-') THEN r.dstaddr ELSE r.pkt_dstaddr END AS b
  FROM records r
),
rejected AS (
  SELECT DISTINCT LEAST(a, b) AS lo, GREATEST(a, b) AS hi, protocol
  FROM flows
  WHERE action = 'REJECT'
)
SELECT f."account_id", f."interface_id", f."srcaddr", f."dstaddr", f."srcport", f."dstport", f."protocol", f."packets", f."start", f."end", f."action", f."log_status", f."vpc_id", f."subnet_id", f."instance_id", f."tcp_flags", f."pkt_srcaddr", f."pkt_dstaddr", f."az_id", f."region"
FROM flows f
JOIN rejected j ON j.protocol = f.protocol AND j.lo = LEAST(f.a, f.b) AND j.hi = GREATEST(f.a, f.b)
ORDER BY f.start, f.interface_id, f.srcaddr, f.srcport
