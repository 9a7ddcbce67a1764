//! What `start-doctor flows` reports, as pinned by
//! `schema/flows.schema.json`: one [`Finding`] per rejected conversation,
//! and the [`Noise`] counted.
//!
//! A finding belongs to one group, its (cause, control) pair
//! ([`Finding::group_key`]): a storm of conversations dropped by one rule is
//! one Slack message and one OpsItem with counts, never one per
//! conversation.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Account, EniId, NetworkAclId, Region, SecurityGroupId, SubnetId};

/// The leg of a conversation that was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Client to server.
    Request,
    /// Server to client.
    Response,
}

impl Leg {
    /// The contract string.
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Request => "request",
            Leg::Response => "response",
        }
    }
}

/// Why the conversation was rejected (stable contract strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A network ACL denies the request coming into a subnet.
    NaclInboundDeny,
    /// A network ACL denies the request leaving a subnet.
    NaclOutboundDeny,
    /// A network ACL denies the response (stateless: replies need their
    /// own rule, to the client's ephemeral ports).
    NaclReturnTrafficDeny,
    /// The flow passes when it enters the VPC through the Transit Gateway
    /// attachment in some AZs and is denied in others.
    TgwEntryAzNacl,
    /// No rule of the interface's security groups allows the request.
    SecurityGroupNoAllow,
    /// VPC Block Public Access rejected it.
    BlockPublicAccess,
    /// The configuration given cannot explain the reject.
    Unexplained,
}

impl Cause {
    /// The contract string.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::NaclInboundDeny => "nacl_inbound_deny",
            Cause::NaclOutboundDeny => "nacl_outbound_deny",
            Cause::NaclReturnTrafficDeny => "nacl_return_traffic_deny",
            Cause::TgwEntryAzNacl => "tgw_entry_az_nacl",
            Cause::SecurityGroupNoAllow => "security_group_no_allow",
            Cause::BlockPublicAccess => "block_public_access",
            Cause::Unexplained => "unexplained",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of control dropped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// A network ACL rule.
    NetworkAcl,
    /// A security group (no rule allows).
    SecurityGroup,
    /// VPC Block Public Access.
    BlockPublicAccess,
}

/// The control that dropped the rejected leg.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Control {
    /// Its kind.
    pub kind: ControlKind,
    /// `acl-…`, `sg-…` (the first group of the interface), or none.
    pub id: Option<String>,
    /// The subnet the network ACL applied to (or the interface's subnet).
    pub subnet_id: Option<SubnetId>,
    /// The network ACL rule that denies (32767/32768 for the final `*`).
    pub rule_number: Option<u16>,
    /// Whether the rule is outbound.
    pub egress: Option<bool>,
    /// Every security group of the interface.
    pub security_group_ids: Vec<SecurityGroupId>,
}

/// Whether the flow passes when it enters by one AZ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AzVerdict {
    /// It passes every control on that path.
    Pass,
    /// A control on that path denies it.
    Fail,
}

/// One AZ a flow could enter (or leave) the VPC by through a Transit
/// Gateway attachment, and whether it passes there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryAz {
    /// The AZ id.
    pub az_id: String,
    /// The attachment's subnet in that AZ.
    pub subnet_id: SubnetId,
    /// Pass or fail.
    pub verdict: AzVerdict,
    /// The network ACL that decided: the one that denies, or the
    /// attachment subnet's when it passes.
    pub network_acl_id: Option<NetworkAclId>,
    /// The rule that decided, when a network ACL did.
    pub rule_number: Option<u16>,
}

/// Where the fix goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationKind {
    /// Add (or replace) a network ACL entry.
    NetworkAclEntry,
    /// Add a security group rule.
    SecurityGroupRule,
    /// Give the Transit Gateway attachment subnets an open network ACL
    /// and filter on the workload subnets.
    TgwSubnetLayout,
    /// Exclude the subnet (or VPC) from VPC Block Public Access.
    BlockPublicAccessExclusion,
    /// Collect what is missing and run again.
    CollectData,
}

/// The fix, in steps, with the exact commands.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Remediation {
    /// Where it goes.
    pub kind: RemediationKind,
    /// What to do, in order.
    pub steps: Vec<String>,
    /// The commands, in order.
    pub commands: Vec<String>,
}

/// One rejected conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The side that opens the connection.
    pub client: IpAddr,
    /// The side that listens.
    pub server: IpAddr,
    /// The server's port (none for protocols without ports).
    pub server_port: Option<u16>,
    /// IANA protocol number.
    pub protocol: u8,
    /// The rejected leg.
    pub rejected_leg: Leg,
    /// The interfaces that logged the rejects.
    pub interface_ids: Vec<EniId>,
    /// The account of those interfaces, when the records say.
    pub account: Option<Account>,
    /// Their region, when the records or the configuration say.
    pub region: Option<Region>,
    /// The first rejected record's start.
    pub first_seen: DateTime<Utc>,
    /// The last rejected record's end.
    pub last_seen: DateTime<Utc>,
    /// REJECT records of the conversation (every interface, both legs).
    pub rejected_records: u64,
    /// ACCEPT records of the conversation (every interface, both legs).
    pub accepted_records: u64,
    /// Both accepted and rejected records.
    pub intermittent: bool,
    /// Why.
    pub cause: Cause,
    /// The control that denies.
    pub control: Option<Control>,
    /// For paths through a Transit Gateway attachment: each AZ and its
    /// verdict.
    pub entry_azs: Vec<EntryAz>,
    /// What was missing to explain it, each with the command that
    /// collects it.
    pub missing: Vec<String>,
    /// One sentence.
    pub summary: String,
    /// The fix.
    pub remediation: Remediation,
}

/// The key findings are grouped by: one Slack message and one OpsItem per
/// value, counted and updated as it grows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The cause.
    pub cause: Cause,
    /// The control (none for `unexplained`).
    pub control: Option<Control>,
}

impl GroupKey {
    /// A stable text form (for store keys and Slack metadata).
    pub fn id(&self) -> String {
        let mut out = self.cause.as_str().to_owned();
        if let Some(c) = &self.control {
            for part in [
                c.id.clone(),
                c.subnet_id.as_ref().map(ToString::to_string),
                c.rule_number.map(|r| r.to_string()),
                c.egress
                    .map(|e| if e { "egress" } else { "ingress" }.to_owned()),
            ]
            .into_iter()
            .flatten()
            {
                out.push('/');
                out.push_str(&part);
            }
        }
        out
    }
}

impl Finding {
    /// The group this finding belongs to.
    pub fn group_key(&self) -> GroupKey {
        GroupKey {
            cause: self.cause,
            control: self.control.clone(),
        }
    }
}

/// REJECT records set aside as noise, not findings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noise {
    /// FIN/RST packets rejected on conversations otherwise accepted.
    pub after_close: u64,
    /// Rejects from outside addresses with no accepted traffic.
    pub unsolicited: u64,
}

/// Everything one run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One per rejected conversation.
    pub findings: Vec<Finding>,
    /// What was set aside.
    pub noise: Noise,
}
