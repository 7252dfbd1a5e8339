//! The in-memory store (one tenant, one legal entity) and the JSON shapes of
//! the Paycor Public API (camelCase, enums as strings, absent sub-objects as
//! `null`).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

/// Paycor's `EmploymentStatus` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EmploymentStatus {
    Active,
    Deceased,
    LongTermDisability,
    ShortTermDisability,
    Fmla,
    LaidOff,
    LeaveWithPay,
    LeaveWithoutPay,
    ThirdPartyPayable,
    Resigned,
    Retired,
    Terminated,
    WorkersCompensation,
    /// Not one of the 13 documented values, but allowed by a live-validated client schema.
    /// Never generated nor accepted by a status write; set with [`crate::paycor::PaycorState::update`]
    /// (`{"status": "Unknown"}`).
    Unknown,
}

impl EmploymentStatus {
    /// Every value, in the spec's order.
    pub const ALL: [EmploymentStatus; 13] = [
        EmploymentStatus::Active,
        EmploymentStatus::Deceased,
        EmploymentStatus::LongTermDisability,
        EmploymentStatus::ShortTermDisability,
        EmploymentStatus::Fmla,
        EmploymentStatus::LaidOff,
        EmploymentStatus::LeaveWithPay,
        EmploymentStatus::LeaveWithoutPay,
        EmploymentStatus::ThirdPartyPayable,
        EmploymentStatus::Resigned,
        EmploymentStatus::Retired,
        EmploymentStatus::Terminated,
        EmploymentStatus::WorkersCompensation,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EmploymentStatus::Active => "Active",
            EmploymentStatus::Deceased => "Deceased",
            EmploymentStatus::LongTermDisability => "LongTermDisability",
            EmploymentStatus::ShortTermDisability => "ShortTermDisability",
            EmploymentStatus::Fmla => "Fmla",
            EmploymentStatus::LaidOff => "LaidOff",
            EmploymentStatus::LeaveWithPay => "LeaveWithPay",
            EmploymentStatus::LeaveWithoutPay => "LeaveWithoutPay",
            EmploymentStatus::ThirdPartyPayable => "ThirdPartyPayable",
            EmploymentStatus::Resigned => "Resigned",
            EmploymentStatus::Retired => "Retired",
            EmploymentStatus::Terminated => "Terminated",
            EmploymentStatus::WorkersCompensation => "WorkersCompensation",
            EmploymentStatus::Unknown => "Unknown",
        }
    }

    /// Case-insensitive parse (ASP.NET enum binding).
    pub fn parse(s: &str) -> Option<EmploymentStatus> {
        EmploymentStatus::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// [`Self::parse`], also accepting `Unknown` (what HR may show; not a write value).
    pub fn parse_any(s: &str) -> Option<EmploymentStatus> {
        EmploymentStatus::parse(s).or_else(|| {
            s.trim()
                .eq_ignore_ascii_case("Unknown")
                .then_some(EmploymentStatus::Unknown)
        })
    }

    /// The five statuses for which a status write requires
    /// `eligibleForRehire` and `isVoluntaryByEmployee`.
    pub fn is_separated(self) -> bool {
        matches!(
            self,
            EmploymentStatus::Terminated
                | EmploymentStatus::Resigned
                | EmploymentStatus::Retired
                | EmploymentStatus::LaidOff
                | EmploymentStatus::Deceased
        )
    }

    /// Leave of absence (still employed), including `ThirdPartyPayable`.
    pub fn is_leave(self) -> bool {
        !self.is_separated() && self != EmploymentStatus::Active
    }
}

pub(crate) const EMPLOYMENT_TYPES: &[&str] = &[
    "Casual",
    "IndependentContractor",
    "Regular",
    "Seasonal",
    "Temporary",
    "Variable",
];
pub(crate) const FLSA_TYPES: &[&str] = &[
    "HourlyExempt",
    "HourlyNonExempt",
    "SalaryExempt",
    "SalaryNonExempt",
];

/// Case-insensitive lookup of an enum value; the canonical spelling.
pub(crate) fn enum_value(values: &[&'static str], s: &str) -> Option<&'static str> {
    values
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(s.trim()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phone {
    pub country_code: String,
    pub area_code: String,
    pub number: String,
    /// `Home`, `Mobile`, `Work`, …
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Address {
    pub street1: String,
    pub street2: Option<String>,
    pub suite: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub county: Option<String>,
    pub zip: String,
}

#[derive(Debug, Clone)]
pub(crate) struct EmergencyContact {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub relationship: &'static str,
    pub phone: Phone,
}

#[derive(Debug, Clone)]
pub(crate) struct Employee {
    pub id: String,
    pub person_id: String,
    pub employee_number: String,
    pub alternate_employee_number: Option<String>,
    pub prefix: &'static str,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub suffix: &'static str,
    pub legal_first_name: String,
    pub legal_last_name: String,
    pub work_email: Option<String>,
    pub home_email: Option<String>,
    pub hire_date: NaiveDate,
    pub adjusted_hire_date: Option<NaiveDate>,
    pub termination_date: Option<NaiveDate>,
    pub termination_reason: Option<String>,
    pub rehire_date: Option<NaiveDate>,
    pub seniority_date: Option<NaiveDate>,
    pub job_title: Option<String>,
    pub job_code: Option<String>,
    pub effective_end_date: Option<NaiveDate>,
    pub pay_group: usize,
    /// Employee id (GUID) of the manager.
    pub manager: Option<String>,
    pub is_full_time: Option<bool>,
    pub status: EmploymentStatus,
    pub flsa: Option<&'static str>,
    pub employment_type: &'static str,
    pub eligible_for_rehire: Option<String>,
    pub leave_start_date: Option<NaiveDate>,
    pub leave_reason: Option<String>,
    /// Index into `Store::work_locations`.
    pub work_location: usize,
    /// Index into `Store::departments`.
    pub department: usize,
    pub birth_date: NaiveDate,
    pub gender: &'static str,
    pub ethnicity: &'static str,
    pub marital_status: &'static str,
    pub maiden_name: Option<String>,
    pub ssn: String,
    pub phones: Vec<Phone>,
    pub address: Address,
    pub emergency_contacts: Vec<EmergencyContact>,
    pub veteran: &'static str,
    pub disability: &'static str,
    pub is_tobacco_user: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Department {
    pub id: String,
    pub code: String,
    pub description: String,
    pub parent: Option<usize>,
    pub level: u8,
    pub work_location: usize,
    pub pay_group: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct WorkLocation {
    pub id: String,
    pub name: String,
    pub street: String,
    pub city: String,
    pub county: String,
    pub state: String,
    pub zip: String,
    pub area_code: String,
    pub location_number: String,
    pub is_fmla_eligible: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct JobTitle {
    pub id: String,
    pub title: String,
    pub code: String,
    pub category: String,
    pub flsa: &'static str,
    pub is_archived: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PayGroup {
    pub id: String,
    pub description: String,
}

/// One tenant with one legal entity.
pub(crate) struct Store {
    pub tenant_id: i64,
    pub tenant_name: String,
    pub legal_entity_id: i64,
    pub legal_entity_name: String,
    pub federal_id: String,
    /// In creation order; employees are never removed (Paycor has no delete).
    pub employees: Vec<Employee>,
    /// Lower-case employee id → index.
    pub by_id: HashMap<String, usize>,
    pub departments: Vec<Department>,
    pub work_locations: Vec<WorkLocation>,
    pub job_titles: Vec<JobTitle>,
    pub pay_groups: Vec<PayGroup>,
    pub next_employee_number: u64,
    /// Continues the seeded generator for hires.
    pub rng: fastrand::Rng,
    pub email_domain: String,
}

/// A random version-4 GUID, lower-case.
pub(crate) fn guid(rng: &mut fastrand::Rng) -> String {
    let v = rng.u128(..);
    let v = (v & !(0xF_u128 << 76)) | (0x4_u128 << 76);
    let v = (v & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (v >> 96) as u32,
        ((v >> 80) & 0xFFFF) as u16,
        ((v >> 64) & 0xFFFF) as u16,
        ((v >> 48) & 0xFFFF) as u16,
        v & 0xFFFF_FFFF_FFFF
    )
}

/// Whether `s` is a GUID (hex 8-4-4-4-12, optional braces), like .NET `Guid.TryParse`.
pub(crate) fn is_guid(s: &str) -> bool {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    if groups.len() == 1 {
        return s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    }
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `YYYY-MM-DDT00:00:00Z`.
pub(crate) fn date_time(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

fn opt_dt(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| Value::String(date_time(d)))
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// Lenient date parse: `YYYY-MM-DD`, optionally followed by `T…` (time, `Z`,
/// offset, fraction) — only the date part is kept.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let date = s.get(..10)?;
    let rest = &s[10..];
    if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' '))
    {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// Which optional blocks of an Employee to fill (`include=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Includes {
    pub dates: bool,
    pub position: bool,
    pub status: bool,
    pub work_location: bool,
}

impl Includes {
    pub(crate) const ALL: Includes = Includes {
        dates: true,
        position: true,
        status: true,
        work_location: true,
    };
}

/// Which optional blocks of a Person to fill (`include=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PersonIncludes {
    pub demographic: bool,
    pub benefit: bool,
    pub military: bool,
    pub social_media: bool,
    pub addresses: bool,
    pub employee_assignments: bool,
    pub emergency_contact: bool,
    pub ssn: bool,
    pub phones: bool,
    pub email: bool,
}

impl PersonIncludes {
    pub(crate) const ALL: PersonIncludes = PersonIncludes {
        demographic: true,
        benefit: true,
        military: true,
        social_media: true,
        addresses: true,
        employee_assignments: true,
        emergency_contact: true,
        ssn: true,
        phones: true,
        email: true,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmailType {
    Work,
    Home,
}

fn reference(id: Value, url: String) -> Value {
    json!({"id": id, "url": url})
}

fn phone_json(p: &Phone) -> Value {
    json!({
        "countryCode": p.country_code,
        "areaCode": p.area_code,
        "phoneNumber": p.number,
        "type": p.kind,
    })
}

impl Store {
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(&id.trim().to_ascii_lowercase()).copied()
    }

    pub(crate) fn employee(&self, id: &str) -> Option<&Employee> {
        self.index_of(id).map(|i| &self.employees[i])
    }

    pub(crate) fn legal_entity_ref(&self) -> Value {
        reference(
            json!(self.legal_entity_id.to_string()),
            format!("/v1/legalentities/{}", self.legal_entity_id),
        )
    }

    pub(crate) fn tenant_ref(&self) -> Value {
        reference(
            json!(self.tenant_id.to_string()),
            format!("/v1/tenants/{}", self.tenant_id),
        )
    }

    pub(crate) fn department_url(&self, d: &Department) -> String {
        format!(
            "/v1/legalentities/{}/departments/{}",
            self.legal_entity_id, d.id
        )
    }

    /// An `Employee` (R2 record / R3). `v2` drops `alternateEmployeeNumber`
    /// and `badgeNumber` and adds `lastName2`, `workCountryCode`,
    /// `workerCategory`.
    pub(crate) fn render_employee(
        &self,
        e: &Employee,
        inc: Includes,
        email_type: EmailType,
        v2: bool,
    ) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(e.id));
        m.insert("employeeNumber".into(), json!(e.employee_number));
        if !v2 {
            m.insert(
                "alternateEmployeeNumber".into(),
                opt_str(e.alternate_employee_number.as_deref()),
            );
            m.insert("badgeNumber".into(), Value::Null);
        }
        m.insert("firstName".into(), json!(e.first_name));
        m.insert("middleName".into(), opt_str(e.middle_name.as_deref()));
        m.insert("lastName".into(), json!(e.last_name));
        if v2 {
            m.insert("lastName2".into(), Value::Null);
        }
        let email = match email_type {
            EmailType::Work => e.work_email.as_deref().map(|a| ("Work", a)),
            EmailType::Home => e.home_email.as_deref().map(|a| ("Home", a)),
        };
        m.insert(
            "email".into(),
            email.map_or(Value::Null, |(t, a)| json!({"type": t, "emailAddress": a})),
        );
        let dates = inc.dates.then(|| {
            json!({
                "hireDate": date_time(e.hire_date),
                "adjustedHireDate": opt_dt(e.adjusted_hire_date),
                "terminationDate": opt_dt(e.termination_date),
                "terminationReason": opt_str(e.termination_reason.as_deref()),
                "reHireDate": opt_dt(e.rehire_date),
                "seniorityDate": opt_dt(e.seniority_date),
            })
        });
        m.insert("employmentDateData".into(), dates.unwrap_or(Value::Null));
        let position = inc.position.then(|| {
            let manager = e.manager.as_deref().map_or(Value::Null, |mid| {
                let number = self
                    .employee(mid)
                    .map_or(Value::Null, |m| json!(m.employee_number));
                json!({
                    "id": mid,
                    "employeeNumber": number,
                    "employee": reference(json!(mid), format!("/v1/employees/{mid}")),
                })
            });
            json!({
                "jobTitle": opt_str(e.job_title.as_deref()),
                "jobCode": opt_str(e.job_code.as_deref()),
                "effectiveStartDate": Value::Null,
                "effectiveEndDate": opt_dt(e.effective_end_date),
                "payGroupId": self.pay_groups.get(e.pay_group).map_or(Value::Null, |p| json!(p.id)),
                "manager": manager,
            })
        });
        m.insert("positionData".into(), position.unwrap_or(Value::Null));
        let status = inc.status.then(|| {
            json!({
                "isFullTime": e.is_full_time,
                "status": e.status.as_str(),
                "flsa": e.flsa,
                "type": e.employment_type,
                "eligibleForRehire": opt_str(e.eligible_for_rehire.as_deref()),
                "leaveStartDate": e.leave_start_date.map(|d| d.format("%Y-%m-%d").to_string()),
                "leaveReason": opt_str(e.leave_reason.as_deref()),
            })
        });
        m.insert("statusData".into(), status.unwrap_or(Value::Null));
        let loc = self.work_locations.get(e.work_location);
        let wl = inc.work_location.then(|| {
            loc.map_or(Value::Null, |l| {
                json!({
                    "id": l.id,
                    "name": l.name,
                    "streetLine1": l.street,
                    "type": "Physical",
                    "city": l.city,
                    "county": l.county,
                    "state": l.state,
                    "zipCode": l.zip,
                    "country": "USA",
                })
            })
        });
        m.insert("workLocation".into(), wl.unwrap_or(Value::Null));
        if v2 {
            m.insert("workCountryCode".into(), json!("USA"));
            m.insert("workerCategory".into(), Value::Null);
        }
        let base = format!("/v1/employees/{}", e.id);
        for (key, sub) in [
            ("earnings", "earnings"),
            ("deductions", "deductions"),
            ("taxes", "taxes"),
            ("directDeposits", "DirectDeposits"),
            ("payRates", "payrates"),
        ] {
            m.insert(key.into(), reference(Value::Null, format!("{base}/{sub}")));
        }
        m.insert("legalEntity".into(), self.legal_entity_ref());
        m.insert(
            "person".into(),
            reference(
                json!(e.person_id),
                format!("/v1/tenants/{}/persons/{}", self.tenant_id, e.person_id),
            ),
        );
        let dept = self.departments.get(e.department);
        m.insert(
            "department".into(),
            dept.map_or(Value::Null, |d| {
                reference(json!(d.id), self.department_url(d))
            }),
        );
        Value::Object(m)
    }

    /// An `EmployeeList` record (R4).
    pub(crate) fn render_employee_list_item(&self, e: &Employee) -> Value {
        json!({
            "id": e.id,
            "employeeNumber": e.employee_number,
            "firstName": e.first_name,
            "middleName": e.middle_name,
            "lastName": e.last_name,
            "employee": reference(json!(e.id), format!("/v1/employees/{}", e.id)),
        })
    }

    /// An `employeesIdentifyingData` record (R5).
    pub(crate) fn render_identifying(&self, e: &Employee, ssn_and_birth: bool) -> Value {
        json!({
            "employeeId": e.id,
            "employeeNumber": e.employee_number,
            "firstName": e.first_name,
            "lastName": e.last_name,
            "socialSecurityNumber": if ssn_and_birth { json!(e.ssn) } else { Value::Null },
            "birthDate": if ssn_and_birth { json!(date_time(e.birth_date)) } else { Value::Null },
            "status": if e.status.is_separated() { "Inactive" } else { "Active" },
        })
    }

    /// A `Person`. `single`: the single-GET variant (emergency contacts are
    /// only ever filled there).
    pub(crate) fn render_person(&self, e: &Employee, inc: PersonIncludes, single: bool) -> Value {
        let email = e
            .home_email
            .as_deref()
            .map_or(Value::Null, |a| json!({"type": "Home", "emailAddress": a}));
        let a = &e.address;
        json!({
            "id": e.person_id,
            "prefix": e.prefix,
            "firstName": e.first_name,
            "middleName": e.middle_name,
            "lastName": e.last_name,
            "suffix": e.suffix,
            "legalFirstName": e.legal_first_name,
            "legalLastName": e.legal_last_name,
            "socialSecurityNumber": if inc.ssn { json!(e.ssn) } else { Value::Null },
            "email": if inc.email { email } else { Value::Null },
            "demographicData": if inc.demographic {
                json!({
                    "birthDate": date_time(e.birth_date),
                    "gender": e.gender,
                    "ethnicity": e.ethnicity,
                    "maritalStatus": e.marital_status,
                    "maidenName": e.maiden_name,
                })
            } else { Value::Null },
            "benefitData": if inc.benefit {
                json!({"isTobaccoUser": e.is_tobacco_user, "disability": e.disability})
            } else { Value::Null },
            "emergencyContactData": if inc.emergency_contact && single {
                Value::Array(e.emergency_contacts.iter().enumerate().map(|(i, c)| json!({
                    "id": c.id,
                    "firstName": c.first_name,
                    "middleName": Value::Null,
                    "lastName": c.last_name,
                    "phones": [phone_json(&c.phone)],
                    "order": i + 1,
                    "relationship": c.relationship,
                })).collect())
            } else { Value::Null },
            "militaryData": if inc.military {
                json!({
                    "veteran": e.veteran,
                    "dischargeDate": Value::Null,
                    "isArmedForcesServiceMedalVeteran": Value::Null,
                    "isDisabledVeteran": Value::Null,
                    "isOtherProtectedVeteran": Value::Null,
                    "isRecentlySeparatedVeteran": Value::Null,
                    "isVietnamEra": Value::Null,
                    "isSpecialDisabled": Value::Null,
                })
            } else { Value::Null },
            "socialMediaData": if inc.social_media { json!([]) } else { Value::Null },
            "employeeAssignments": if inc.employee_assignments {
                json!([{"employees": reference(json!(e.id), format!("/v1/employees/{}", e.id))}])
            } else { Value::Null },
            "addresses": if inc.addresses {
                json!([{
                    "streetLine1": a.street1,
                    "streetLine2": a.street2,
                    "suite": a.suite,
                    "city": a.city,
                    "state": a.state,
                    "country": a.country,
                    "county": a.county,
                    "zipCode": a.zip,
                    "type": "Primary",
                }])
            } else { Value::Null },
            "phones": if inc.phones {
                Value::Array(e.phones.iter().map(phone_json).collect())
            } else { Value::Null },
            "tenants": self.tenant_ref(),
        })
    }

    pub(crate) fn render_department(&self, d: &Department) -> Value {
        let loc = self.work_locations.get(d.work_location);
        let payroll = self.pay_groups.get(d.pay_group);
        json!({
            "id": d.id,
            "code": d.code,
            "description": d.description,
            "parentId": d.parent.and_then(|p| self.departments.get(p)).map(|p| p.id.clone()),
            "level": d.level,
            "payrollId": payroll.map(|p| p.id.clone()),
            "payrollDescription": payroll.map(|p| p.description.clone()),
            "workLocationId": loc.map(|l| l.id.clone()),
            "workLocationName": loc.map(|l| l.name.clone()),
        })
    }

    pub(crate) fn render_work_location(&self, l: &WorkLocation) -> Value {
        json!({
            "id": l.id,
            "name": l.name,
            "addresses": [{
                "type": "Physical",
                "streetLine1": l.street,
                "streetLine2": Value::Null,
                "state": l.state,
                "city": l.city,
                "country": "USA",
                "zipCode": l.zip,
            }],
            "phones": [{
                "countryCode": "1",
                "areaCode": l.area_code,
                "phoneNumber": "5550100",
                "type": "Work",
            }],
            "locationNumber": l.location_number,
            "storeId": l.name,
            "isFmlaEligible": l.is_fmla_eligible,
        })
    }

    pub(crate) fn render_job_title(&self, j: &JobTitle) -> Value {
        json!({
            "jobTitleId": j.id,
            "jobTitle": j.title,
            "jobCode": j.code,
            "jobCategory": j.category,
            "isArchived": j.is_archived,
            "tenant": self.tenant_ref(),
        })
    }

    pub(crate) fn render_legal_entity(&self) -> Value {
        json!({
            "id": self.legal_entity_id,
            "name": self.legal_entity_name,
            "federalId": self.federal_id,
            "type": "LLC",
            "isLost": false,
            "businessNames": Value::Null,
            "tenant": self.tenant_ref(),
            "employees": reference(Value::Null, format!("/v1/legalentities/{}/employees", self.legal_entity_id)),
            "persons": reference(Value::Null, format!("/v1/legalEntities/{}/persons", self.legal_entity_id)),
            "earnings": reference(Value::Null, format!("/v1/legalentities/{}/earnings", self.legal_entity_id)),
            "deductions": reference(Value::Null, format!("/v1/legalentities/{}/deductions", self.legal_entity_id)),
            "taxes": reference(Value::Null, format!("/v1/legalentities/{}/taxes", self.legal_entity_id)),
        })
    }

    pub(crate) fn render_tenant(&self) -> Value {
        json!({
            "id": self.tenant_id,
            "name": self.tenant_name,
            "legalEntities": [self.legal_entity_ref()],
        })
    }

    pub(crate) fn department_by_id(&self, id: &str) -> Option<usize> {
        self.departments
            .iter()
            .position(|d| d.id.eq_ignore_ascii_case(id.trim()))
    }

    pub(crate) fn department_by_code(&self, code: &str) -> Option<usize> {
        self.departments.iter().position(|d| d.code == code.trim())
    }

    pub(crate) fn work_location_by_name(&self, name: &str) -> Option<usize> {
        self.work_locations
            .iter()
            .position(|l| l.name.eq_ignore_ascii_case(name.trim()))
    }

    pub(crate) fn job_title_by_name(&self, title: &str) -> Option<usize> {
        self.job_titles
            .iter()
            .position(|j| j.title.eq_ignore_ascii_case(title.trim()))
    }
}

/// A rejected write: field → message (the `source` of a `PaycorError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub Vec<(String, String)>);

impl Invalid {
    pub(crate) fn one(field: &str, message: impl Into<String>) -> Invalid {
        Invalid(vec![(field.to_owned(), message.into())])
    }

    pub(crate) fn source(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.0 {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        Value::Object(m)
    }
}

/// Case-insensitive view of a JSON object (ASP.NET binds properties
/// case-insensitively).
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// Present and not null.
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        self.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A string field; `Err` if present with another JSON type.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, Invalid> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(Invalid::one(
                key,
                format!("The JSON value {other} could not be converted to System.String."),
            )),
        }
    }

    /// A non-empty string field (empty strings count as "not supplied").
    pub(crate) fn text(&self, key: &str) -> Result<Option<&'a str>, Invalid> {
        Ok(self.str(key)?.filter(|s| !s.trim().is_empty()))
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, Invalid> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(Invalid::one(
                key,
                format!("The JSON value {other} could not be converted to System.Boolean."),
            )),
        }
    }

    pub(crate) fn date(&self, key: &str) -> Result<Option<NaiveDate>, Invalid> {
        match self.text(key)? {
            None => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .ok_or_else(|| Invalid::one(key, format!("The value '{s}' is not a valid date."))),
        }
    }

    pub(crate) fn enum_of(
        &self,
        key: &str,
        values: &[&'static str],
    ) -> Result<Option<&'static str>, Invalid> {
        match self.text(key)? {
            None => Ok(None),
            Some(s) => enum_value(values, s)
                .map(Some)
                .ok_or_else(|| Invalid::one(key, format!("The value '{s}' is not valid."))),
        }
    }

    pub(crate) fn status(&self, key: &str) -> Result<Option<EmploymentStatus>, Invalid> {
        self.status_with(key, EmploymentStatus::parse)
    }

    /// [`Self::status`] also accepting `Unknown` (the library's admin update).
    pub(crate) fn any_status(&self, key: &str) -> Result<Option<EmploymentStatus>, Invalid> {
        self.status_with(key, EmploymentStatus::parse_any)
    }

    fn status_with(
        &self,
        key: &str,
        parse: fn(&str) -> Option<EmploymentStatus>,
    ) -> Result<Option<EmploymentStatus>, Invalid> {
        match self.text(key)? {
            None => Ok(None),
            Some(s) => parse(s)
                .map(Some)
                .ok_or_else(|| Invalid::one(key, format!("The value '{s}' is not valid."))),
        }
    }
}

/// A plausible e-mail address (what Paycor's validator accepts; approximate).
pub(crate) fn is_email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && !local.contains('@')
}

/// Sets the status and the fields that go with it, as Paycor's status
/// change does: separation fills `terminationDate` (+ reason, rehire
/// eligibility, `effectiveEndDate`), a leave fills `leaveStartDate` +
/// `leaveReason`, `Active` clears the leave fields.
pub(crate) fn apply_status(
    e: &mut Employee,
    status: EmploymentStatus,
    date: NaiveDate,
    reason: Option<String>,
    eligible_for_rehire: Option<String>,
) {
    e.status = status;
    if status.is_separated() {
        e.termination_date = Some(date);
        e.termination_reason = reason;
        e.effective_end_date = Some(date);
        e.eligible_for_rehire = eligible_for_rehire.or_else(|| Some("No".to_owned()));
        e.leave_start_date = None;
        e.leave_reason = None;
    } else if status.is_leave() {
        e.leave_start_date = Some(date);
        e.leave_reason = reason;
        e.effective_end_date = None;
    } else {
        e.leave_start_date = None;
        e.leave_reason = None;
        e.effective_end_date = None;
        e.eligible_for_rehire = None;
    }
}

/// The local part `first.last` of a generated e-mail address (ASCII,
/// lower-case, no spaces/apostrophes).
pub(crate) fn email_local(first: &str, last: &str) -> String {
    let clean = |s: &str| -> String {
        deunicode::deunicode(s)
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    };
    format!("{}.{}", clean(first), clean(last))
}
