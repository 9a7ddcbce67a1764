SELECT eventid, eventtime, eventsource, eventname, awsregion, recipientaccountid,
  errorcode, errormessage, requestid, useragent, sourceipaddress,
  useridentity.type AS useridentity_type, useridentity.arn AS useridentity_arn,
  useridentity.accountid AS useridentity_accountid,
  useridentity.invokedby AS useridentity_invokedby,
  useridentity.sessioncontext.sessionissuer.arn AS sessionissuer_arn,
  requestparameters, responseelements,
  array_join(transform(resources, r -> r.arn), ',') AS resource_arns
FROM cloudtrail_logs_pp
WHERE ((eventsource = 'ec2.amazonaws.com' AND eventname IN ('StartInstances', 'RunInstances') AND errorcode IS NULL)
      OR (eventsource = 'kms.amazonaws.com' AND (eventname IN ('CreateGrant', 'Decrypt', 'GenerateDataKeyWithoutPlaintext') OR eventname LIKE 'ReEncrypt%') AND errorcode IS NOT NULL))
  AND "timestamp" >= '2026/11/20'
  AND from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('2026-11-20T00:00:00Z')
  AND "timestamp" <= '2026/11/21'
  AND from_iso8601_timestamp(eventtime) <= from_iso8601_timestamp('2026-11-20T23:59:59Z')
ORDER BY eventtime, eventid
