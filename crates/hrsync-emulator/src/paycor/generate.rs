//! Deterministic generation of the emulated legal entity from a seed.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate};

use super::data::{
    self, ARCHIVED_JOB_TITLES, DEPARTMENTS, FIRST_NAMES, JOB_TITLES, LAST_NAMES, NICKNAMES,
    PAY_GROUPS, WORK_LOCATIONS,
};
use super::model::{
    Address, Department, EmergencyContact, Employee, EmploymentStatus, JobTitle, PayGroup, Phone,
    Store, WorkLocation, apply_status, email_local, guid,
};

/// "Today" of the generated data set (generation must not depend on the clock).
pub(crate) fn reference_date() -> NaiveDate {
    ymd(2026, 1, 15)
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn pick_str(rng: &mut fastrand::Rng, items: &'static [&'static str]) -> &'static str {
    items[rng.usize(..items.len())]
}

fn random_date(rng: &mut fastrand::Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + Duration::days(rng.i64(0..=span))
}

fn digits(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
}

/// A fictional 555-01xx number.
fn phone(rng: &mut fastrand::Rng, area: &str, kind: &'static str) -> Phone {
    Phone {
        country_code: "1".to_owned(),
        area_code: area.to_owned(),
        number: format!("55501{}", digits(rng, 2)),
        kind,
    }
}

/// Everything of an employee that is independent of its position in the org.
pub(crate) struct NewPerson {
    pub first: String,
    pub legal_first: String,
    pub middle: Option<String>,
    pub last: String,
    pub gender: &'static str,
}

pub(crate) fn new_person(rng: &mut fastrand::Rng) -> NewPerson {
    // Deliberate duplicates of very common names.
    let roll = rng.u32(..100);
    let (first, gender, last) = if roll < 2 {
        ("John", "Male", "Smith")
    } else if roll < 4 {
        ("Maria", "Female", "Garcia")
    } else {
        let (f, g) = *pick(rng, FIRST_NAMES);
        (f, g, *pick(rng, LAST_NAMES))
    };
    let mut legal_first = first.to_owned();
    let mut first = first.to_owned();
    if let Some((_, nick)) = NICKNAMES.iter().find(|(legal, _)| *legal == first)
        && rng.u32(..100) < 35
    {
        // Goes by a nickname: firstName is the nickname, legalFirstName the W-2 name.
        legal_first = first.clone();
        first = (*nick).to_owned();
    }
    let middle = match rng.u32(..100) {
        0..25 => {
            let same: Vec<&str> = FIRST_NAMES
                .iter()
                .filter(|(n, g)| *g == gender && !n.contains(' '))
                .map(|(n, _)| *n)
                .collect();
            Some((*pick(rng, &same)).to_owned())
        }
        25..35 => Some(char::from(b'A' + rng.u8(0..26)).to_string()),
        _ => None,
    };
    NewPerson {
        first,
        legal_first,
        middle,
        last: last.to_owned(),
        gender,
    }
}

/// Builds the fixed reference data (departments, locations, titles, pay
/// groups) with GUIDs drawn from `rng`.
fn reference_data(
    rng: &mut fastrand::Rng,
) -> (
    Vec<Department>,
    Vec<WorkLocation>,
    Vec<JobTitle>,
    Vec<PayGroup>,
) {
    let pay_groups: Vec<PayGroup> = PAY_GROUPS
        .iter()
        .map(|d| PayGroup {
            id: guid(rng),
            description: (*d).to_owned(),
        })
        .collect();
    let work_locations: Vec<WorkLocation> = WORK_LOCATIONS
        .iter()
        .map(|l| WorkLocation {
            id: guid(rng),
            name: l.name.to_owned(),
            street: l.street.to_owned(),
            city: l.city.to_owned(),
            county: l.county.to_owned(),
            state: l.state.to_owned(),
            zip: l.zip.to_owned(),
            area_code: l.area_code.to_owned(),
            location_number: l.location_number.to_owned(),
            is_fmla_eligible: l.is_fmla_eligible,
        })
        .collect();
    let job_titles: Vec<JobTitle> = JOB_TITLES
        .iter()
        .map(|j| JobTitle {
            id: guid(rng),
            title: j.title.to_owned(),
            code: j.code.to_owned(),
            category: j.category.to_owned(),
            flsa: j.flsa,
            is_archived: ARCHIVED_JOB_TITLES.contains(&j.code),
        })
        .collect();
    let departments: Vec<Department> = DEPARTMENTS
        .iter()
        .map(|d| Department {
            id: guid(rng),
            code: d.code.to_owned(),
            description: d.description.to_owned(),
            parent: d
                .parent
                .and_then(|p| DEPARTMENTS.iter().position(|x| x.code == p)),
            level: if d.parent.is_some() { 3 } else { 2 },
            work_location: d.work_location,
            pay_group: d.pay_group,
        })
        .collect();
    (departments, work_locations, job_titles, pay_groups)
}

/// A status other than Active, with the usual shares: leaves ~6 %,
/// separations ~11 %.
fn random_status(rng: &mut fastrand::Rng) -> EmploymentStatus {
    use EmploymentStatus as S;
    match rng.u32(..1000) {
        0..830 => S::Active,
        830..850 => S::LeaveWithPay,
        850..862 => S::LeaveWithoutPay,
        862..877 => S::Fmla,
        877..884 => S::ShortTermDisability,
        884..888 => S::LongTermDisability,
        888..891 => S::WorkersCompensation,
        891..893 => S::ThirdPartyPayable,
        893..950 => S::Terminated,
        950..980 => S::Resigned,
        980..991 => S::Retired,
        991..998 => S::LaidOff,
        _ => S::Deceased,
    }
}

/// Fills the status fields of a generated employee consistently.
fn set_generated_status(rng: &mut fastrand::Rng, e: &mut Employee, status: EmploymentStatus) {
    let today = reference_date();
    let after_hire = (e.hire_date + Duration::days(30)).min(today);
    if status.is_separated() {
        let date = random_date(rng, after_hire, today);
        let reason = match status {
            EmploymentStatus::Retired => "Retirement".to_owned(),
            EmploymentStatus::Deceased => "Death".to_owned(),
            EmploymentStatus::LaidOff => "Reduction in Force".to_owned(),
            EmploymentStatus::Resigned => pick(rng, &data::TERMINATION_REASONS[..3]).to_string(),
            _ => pick(rng, data::TERMINATION_REASONS).to_string(),
        };
        let eligible = if status == EmploymentStatus::Deceased {
            None
        } else if rng.u32(..100) < 75 {
            Some("Yes".to_owned())
        } else {
            Some("No".to_owned())
        };
        apply_status(e, status, date, Some(reason), eligible);
        if status == EmploymentStatus::Deceased {
            e.eligible_for_rehire = None;
        }
    } else if status.is_leave() {
        let from = (today - Duration::days(200)).max(e.hire_date);
        let date = random_date(rng, from, today);
        let reason = match status {
            EmploymentStatus::Fmla => Some("Family Care".to_owned()),
            EmploymentStatus::WorkersCompensation => Some("Work Injury".to_owned()),
            EmploymentStatus::ShortTermDisability | EmploymentStatus::LongTermDisability => {
                Some("Medical Leave".to_owned())
            }
            _ if rng.bool() => Some(pick(rng, data::LEAVE_REASONS).to_string()),
            _ => None,
        };
        apply_status(e, status, date, reason, None);
    } else {
        apply_status(e, status, today, None, None);
    }
}

struct Builder {
    rng: fastrand::Rng,
    used_emails: HashSet<String>,
    email_domain: String,
    next_number: u64,
}

impl Builder {
    fn unique_email(&mut self, first: &str, last: &str) -> String {
        let base = email_local(first, last);
        let mut candidate = base.clone();
        let mut n = 1;
        while self.used_emails.contains(&candidate) {
            n += 1;
            candidate = format!("{base}{n}");
        }
        self.used_emails.insert(candidate.clone());
        format!("{candidate}@{}", self.email_domain)
    }
}

/// A new employee record for `p` in `department` (position fields from the
/// department's usual titles). Used by generation and by hires.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_employee(
    rng: &mut fastrand::Rng,
    store_refs: (&[Department], &[WorkLocation], &[JobTitle]),
    p: NewPerson,
    department: usize,
    job_title: Option<usize>,
    hire_date: NaiveDate,
    employee_number: String,
    work_email: Option<String>,
) -> Employee {
    let (departments, locations, titles) = store_refs;
    let dept = &departments[department.min(departments.len().saturating_sub(1))];
    let def = DEPARTMENTS.iter().find(|d| d.code == dept.code);
    let title_idx = job_title.or_else(|| {
        def.map(|d| {
            let usual = if d.job_titles.len() > 1 {
                &d.job_titles[1..]
            } else {
                d.job_titles
            };
            *pick(rng, usual)
        })
    });
    let title = title_idx.and_then(|i| titles.get(i));
    // Remote workers: ~8 % of the office staff.
    let work_location = if dept.work_location != 1 && rng.u32(..100) < 8 {
        locations.len().saturating_sub(1)
    } else {
        dept.work_location
    };
    let loc = &locations[work_location.min(locations.len().saturating_sub(1))];
    let (city, county, state, zip, area) = if work_location + 1 == locations.len() {
        *pick(rng, data::HOME_CITIES)
    } else {
        let near: Vec<_> = data::HOME_CITIES
            .iter()
            .filter(|c| c.2 == loc.state)
            .copied()
            .collect();
        if near.is_empty() {
            *pick(rng, data::HOME_CITIES)
        } else {
            *pick(rng, &near)
        }
    };
    let hourly = title.is_some_and(|t| t.flsa.starts_with("Hourly"));
    let mut phones = Vec::new();
    if rng.u32(..100) < 90 {
        phones.push(phone(rng, area, "Mobile"));
    }
    if rng.u32(..100) < 25 {
        phones.push(phone(rng, area, "Home"));
    }
    if !hourly && rng.u32(..100) < 60 {
        phones.push(phone(rng, &loc.area_code, "Work"));
    }
    let home_email = (rng.u32(..100) < 85).then(|| {
        let domain = *pick(rng, &["example.net", "example.org", "mail.example"]);
        format!(
            "{}{}@{domain}",
            email_local(&p.first, &p.last).replace('.', ""),
            rng.u32(1..99)
        )
    });
    let birth_year = hire_date.year() - rng.i32(19..=58);
    let birth_date = ymd(birth_year, rng.u32(1..=12), rng.u32(1..=28));
    let married = rng.u32(..100) < 45;
    let maiden_name = (p.gender == "Female" && married && rng.u32(..100) < 30)
        .then(|| pick(rng, LAST_NAMES).to_string());
    let emergency_contacts = if rng.u32(..100) < 70 {
        let (first, _) = *pick(rng, FIRST_NAMES);
        vec![EmergencyContact {
            id: guid(rng),
            first_name: first.to_owned(),
            last_name: if rng.bool() {
                p.last.clone()
            } else {
                pick(rng, LAST_NAMES).to_string()
            },
            relationship: if married {
                "Spouse"
            } else {
                pick_str(rng, data::RELATIONSHIPS)
            },
            phone: phone(rng, area, "Mobile"),
        }]
    } else {
        Vec::new()
    };
    let employment_type = match rng.u32(..100) {
        0..92 => "Regular",
        92..95 => "Temporary",
        95..97 => "Seasonal",
        97..99 => "Variable",
        _ => "Casual",
    };
    let legal_last = p.last.clone();
    Employee {
        id: guid(rng),
        person_id: guid(rng),
        employee_number,
        alternate_employee_number: (rng.u32(..100) < 10).then(|| format!("E{}", digits(rng, 5))),
        prefix: if rng.u32(..100) < 3 { "Dr" } else { "None" },
        first_name: p.first,
        middle_name: p.middle,
        last_name: p.last,
        suffix: match rng.u32(..100) {
            0..3 => "Jr",
            3..4 => "III",
            _ => "None",
        },
        legal_first_name: p.legal_first,
        legal_last_name: legal_last,
        work_email,
        home_email,
        hire_date,
        adjusted_hire_date: None,
        termination_date: None,
        termination_reason: None,
        rehire_date: None,
        seniority_date: Some(hire_date),
        job_title: title.map(|t| t.title.clone()),
        job_code: title.map(|t| t.code.clone()),
        effective_end_date: None,
        pay_group: if hourly { 1 } else { dept.pay_group },
        manager: None,
        is_full_time: Some(employment_type == "Regular" && rng.u32(..100) < 92),
        status: EmploymentStatus::Active,
        flsa: title.map(|t| t.flsa),
        employment_type,
        eligible_for_rehire: None,
        leave_start_date: None,
        leave_reason: None,
        work_location,
        department,
        birth_date,
        gender: p.gender,
        ethnicity: pick_str(rng, data::ETHNICITIES),
        marital_status: if married {
            "Married"
        } else {
            pick_str(rng, data::MARITAL_STATUSES)
        },
        maiden_name,
        ssn: format!("9{}-{}-{}", digits(rng, 2), digits(rng, 2), digits(rng, 4)),
        phones,
        address: Address {
            street1: format!("{} {}", rng.u32(10..9999), pick(rng, data::STREETS)),
            street2: None,
            suite: (rng.u32(..100) < 15).then(|| format!("Apt {}", rng.u32(1..400))),
            city: Some(city.to_owned()),
            state: Some(state.to_owned()),
            country: Some("USA".to_owned()),
            county: Some(county.to_owned()),
            zip: zip.to_owned(),
        },
        emergency_contacts,
        veteran: match rng.u32(..100) {
            0..6 => "true",
            6..12 => "DeclinedToIdentify",
            _ => "false",
        },
        disability: match rng.u32(..100) {
            0..4 => "true",
            4..10 => "DeclinedToIdentify",
            _ => "false",
        },
        is_tobacco_user: rng.u32(..100) < 12,
    }
}

/// Generates `employees` employees of legal entity `legal_entity_id`:
/// employee 0 is the CEO (no manager), the next ones head the departments
/// and report to the CEO, everybody else reports to an earlier employee of
/// their department (sometimes one who has since left: stale manager
/// references are real). Every [`EmploymentStatus`] occurs once there are
/// at least 40 employees.
pub(crate) fn generate(employees: usize, seed: u64, legal_entity_id: i64, tenant_id: i64) -> Store {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (departments, work_locations, job_titles, pay_groups) = reference_data(&mut rng);
    let today = reference_date();
    let mut b = Builder {
        rng,
        used_emails: HashSet::new(),
        email_domain: "buckeyeprecision.example".to_owned(),
        next_number: 1001,
    };
    let mut list: Vec<Employee> = Vec::with_capacity(employees);
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    let weights: u32 = DEPARTMENTS.iter().map(|d| d.weight).sum();
    for i in 0..employees {
        let rng = &mut b.rng;
        let p = new_person(rng);
        let (department, head) = if i < DEPARTMENTS.len() {
            (i, true)
        } else {
            let mut roll = rng.u32(..weights.max(1));
            let mut d = 0;
            for (k, def) in DEPARTMENTS.iter().enumerate() {
                if roll < def.weight {
                    d = k;
                    break;
                }
                roll -= def.weight;
            }
            (d, false)
        };
        let job_title = if head {
            DEPARTMENTS[department].job_titles.first().copied()
        } else {
            None
        };
        let hire_date = if i == 0 {
            ymd(2004, 3, 1)
        } else if !head && rng.u32(..100) < 1 {
            // Pre-hire: starts in the coming weeks.
            today + Duration::days(rng.i64(1..=30))
        } else {
            random_date(rng, ymd(2005, 1, 3), today)
        };
        let number = b.next_number.to_string();
        b.next_number += if b.rng.u32(..100) < 5 { 2 } else { 1 };
        // ~2 % without a work e-mail (shop floor), ~2 % typed with capitals.
        let work_email = if b.rng.u32(..100) < 2 {
            None
        } else {
            let email = b.unique_email(&p.first, &p.last);
            if b.rng.u32(..100) < 2 {
                let (local, domain) = email.split_once('@').unwrap_or((&email, ""));
                let capitalized: String = local
                    .split('.')
                    .map(|part| {
                        let mut c = part.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                Some(format!("{capitalized}@{domain}"))
            } else {
                Some(email)
            }
        };
        let refs = (&departments[..], &work_locations[..], &job_titles[..]);
        let mut e = build_employee(
            &mut b.rng, refs, p, department, job_title, hire_date, number, work_email,
        );
        let rng = &mut b.rng;
        if head {
            e.flsa = Some("SalaryExempt");
            e.is_full_time = Some(true);
            e.employment_type = "Regular";
        }
        // Manager.
        if i > 0 {
            let peers = members.get(&department).map_or(&[][..], Vec::as_slice);
            let parent_head = DEPARTMENTS[department]
                .parent
                .and_then(|p| DEPARTMENTS.iter().position(|d| d.code == p))
                .filter(|&p| p < list.len());
            e.manager = if let (true, Some(p)) = (head, parent_head) {
                Some(list[p].id.clone())
            } else if head || peers.is_empty() {
                Some(list[0].id.clone())
            } else {
                // The first few members of a department are its managers.
                let bound = ((peers.len() as f64).sqrt().ceil() as usize).clamp(1, peers.len());
                Some(list[peers[rng.usize(..bound)]].id.clone())
            };
        }
        // Status (the CEO and department heads stay active).
        if !head && e.hire_date <= today {
            let status = random_status(rng);
            set_generated_status(rng, &mut e, status);
            // Rehires: ~3 % of the active staff left once and came back.
            if status == EmploymentStatus::Active
                && e.hire_date < today - Duration::days(400)
                && rng.u32(..100) < 3
            {
                let left = random_date(rng, e.hire_date, today - Duration::days(60));
                let back = random_date(rng, left + Duration::days(30), today);
                e.termination_date = Some(left);
                e.termination_reason = Some("Voluntary - Personal Reasons".to_owned());
                e.rehire_date = Some(back);
                e.adjusted_hire_date = Some(back);
                e.seniority_date = Some(back);
            }
        }
        members.entry(department).or_default().push(i);
        list.push(e);
    }
    // Every status at least once (for tests with small companies).
    if employees >= 40 {
        let managers: HashSet<String> = list.iter().filter_map(|e| e.manager.clone()).collect();
        for status in EmploymentStatus::ALL {
            if list.iter().any(|e| e.status == status) {
                continue;
            }
            let candidates: Vec<usize> = (DEPARTMENTS.len()..list.len())
                .filter(|&k| {
                    let e = &list[k];
                    e.status == EmploymentStatus::Active
                        && e.rehire_date.is_none()
                        && e.hire_date <= today
                        && !managers.contains(&e.id)
                })
                .collect();
            if candidates.is_empty() {
                break;
            }
            let k = candidates[b.rng.usize(..candidates.len())];
            set_generated_status(&mut b.rng, &mut list[k], status);
        }
    }
    let by_id = list
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), i))
        .collect();
    Store {
        tenant_id,
        tenant_name: "Buckeye Precision Group".to_owned(),
        legal_entity_id,
        legal_entity_name: "Buckeye Precision Manufacturing, LLC".to_owned(),
        federal_id: "31-0000042".to_owned(),
        employees: list,
        by_id,
        departments,
        work_locations,
        job_titles,
        pay_groups,
        next_employee_number: b.next_number,
        rng: b.rng,
        email_domain: b.email_domain,
    }
}

/// A unique work e-mail for a hire (`first.last[N]@domain`).
pub(crate) fn hire_email(store: &Store, first: &str, last: &str) -> String {
    let base = email_local(first, last);
    let taken = |candidate: &str| {
        let full = format!("{candidate}@{}", store.email_domain);
        store.employees.iter().any(|e| {
            e.work_email
                .as_deref()
                .is_some_and(|w| w.eq_ignore_ascii_case(&full))
        })
    };
    let mut candidate = base.clone();
    let mut n = 1;
    while taken(&candidate) {
        n += 1;
        candidate = format!("{base}{n}");
    }
    format!("{candidate}@{}", store.email_domain)
}
