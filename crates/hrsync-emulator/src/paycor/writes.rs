//! Validation and application of employee writes: the API's PUT bodies
//! (W1–W4 of the research notes) and the library's HR-side edits
//! ([`super::PaycorState::hire`] / [`super::PaycorState::update`]).
//! Every function validates the whole body first and changes nothing when
//! it is rejected.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::generate::{self, hire_email, new_person};
use super::model::{
    Address, EMPLOYMENT_TYPES, Employee, EmploymentStatus, FLSA_TYPES, Fields, Invalid, Phone,
    Store, apply_status, is_email, is_guid,
};

fn required(field: &str) -> Invalid {
    let mut chars = field.chars();
    let pascal = chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default();
    Invalid::one(field, format!("The {pascal} field is required."))
}

fn email_field(f: &Fields<'_>, key: &str) -> Result<Option<String>, Invalid> {
    match f.text(key)? {
        None => Ok(None),
        Some(s) if is_email(s) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(Invalid::one(key, "Email address is invalid")),
    }
}

fn phones_field(f: &Fields<'_>) -> Result<Vec<Phone>, Invalid> {
    let Some(value) = f.value("phones") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(Invalid::one(
            "phones",
            "The JSON value could not be converted to a list of Phone.",
        ));
    };
    let mut out: Vec<Phone> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(Invalid::one(
                &format!("phones[{i}]"),
                "The JSON value could not be converted to Phone.",
            ));
        };
        let p = Fields(map);
        let kind = p
            .enum_of("type", &["Home", "Mobile", "Work"])
            .map_err(|_| {
                Invalid::one(
                    &format!("phones[{i}].type"),
                    "Only Home, Mobile and Work phone numbers can be updated.",
                )
            })?
            .ok_or_else(|| required(&format!("phones[{i}].type")))?;
        let number = p
            .text("phoneNumber")?
            .ok_or_else(|| required(&format!("phones[{i}].phoneNumber")))?;
        if out.iter().any(|o| o.kind == kind) {
            return Err(Invalid::one(
                "phones",
                format!("Only one {kind} phone number can be supplied."),
            ));
        }
        out.push(Phone {
            country_code: p.text("countryCode")?.unwrap_or("1").to_owned(),
            area_code: p.text("areaCode")?.unwrap_or("").to_owned(),
            number: number.to_owned(),
            kind,
        });
    }
    Ok(out)
}

fn address_field(f: &Fields<'_>, key: &str) -> Result<Option<Address>, Invalid> {
    let Some(value) = f.value(key) else {
        return Ok(None);
    };
    let Value::Object(map) = value else {
        return Err(Invalid::one(
            key,
            "The JSON value could not be converted to GenericAddress.",
        ));
    };
    let a = Fields(map);
    let street1 = a
        .text("streetLine1")?
        .ok_or_else(|| required(&format!("{key}.streetLine1")))?;
    let zip = a
        .text("zipCode")?
        .ok_or_else(|| required(&format!("{key}.zipCode")))?;
    let opt = |k: &str| -> Result<Option<String>, Invalid> { Ok(a.text(k)?.map(str::to_owned)) };
    Ok(Some(Address {
        street1: street1.to_owned(),
        street2: opt("streetLine2")?,
        suite: opt("suite")?,
        city: opt("city")?,
        state: opt("state")?,
        country: opt("country")?,
        county: opt("county")?,
        zip: zip.to_owned(),
    }))
}

/// W1 `PUT /v1/employees/{id}` (EmployeeContact): every field optional,
/// omitted (or null/empty) fields keep their value; only the phone types
/// sent are replaced.
pub(crate) fn contact(
    store: &mut Store,
    idx: usize,
    body: &Map<String, Value>,
) -> Result<(), Invalid> {
    let f = Fields(body);
    let home = email_field(&f, "homeEmail")?;
    let work = email_field(&f, "workEmail")?;
    let phones = phones_field(&f)?;
    let address = address_field(&f, "primaryAddress")?;
    let e = &mut store.employees[idx];
    if let Some(home) = home {
        e.home_email = Some(home);
    }
    if let Some(work) = work {
        e.work_email = Some(work);
    }
    for p in phones {
        match e.phones.iter_mut().find(|o| o.kind == p.kind) {
            Some(existing) => *existing = p,
            None => e.phones.push(p),
        }
    }
    if let Some(a) = address {
        e.address = a;
    }
    Ok(())
}

/// The position part shared by W2 and W4.
struct PositionChange {
    employment_type: &'static str,
    work_location: usize,
    job_title: Option<usize>,
    flsa: Option<&'static str>,
    manager: Option<String>,
    department: Option<usize>,
    is_full_time: Option<bool>,
}

fn position_change(store: &Store, idx: usize, f: &Fields<'_>) -> Result<PositionChange, Invalid> {
    let employment_type = f
        .enum_of("employmentType", EMPLOYMENT_TYPES)?
        .ok_or_else(|| required("employmentType"))?;
    let wl_name = f
        .text("workLocation")?
        .ok_or_else(|| required("workLocation"))?;
    let work_location = store.work_location_by_name(wl_name).ok_or_else(|| {
        Invalid::one(
            "workLocation",
            format!("Work Location '{wl_name}' does not exist for the legal entity."),
        )
    })?;
    let job_title = match f.text("jobTitle")? {
        None => None,
        Some(t) => Some(store.job_title_by_name(t).ok_or_else(|| {
            Invalid::one(
                "jobTitle",
                format!("Job Title '{t}' does not exist for the tenant."),
            )
        })?),
    };
    let flsa = f.enum_of("flsa", FLSA_TYPES)?;
    let manager = match f.text("managerId")? {
        None => None,
        Some(m) if !is_guid(m) => {
            return Err(Invalid::one(
                "managerId",
                format!("The value '{m}' is not valid."),
            ));
        }
        Some(m) => {
            let Some(mi) = store.index_of(m) else {
                return Err(Invalid::one(
                    "managerId",
                    format!("Manager '{m}' does not exist."),
                ));
            };
            if mi == idx {
                return Err(Invalid::one(
                    "managerId",
                    "An employee cannot be their own manager.",
                ));
            }
            Some(store.employees[mi].id.clone())
        }
    };
    let department = match f.text("departmentId")? {
        None => None,
        Some(d) => Some(store.department_by_id(d).ok_or_else(|| {
            Invalid::one("departmentId", format!("Department '{d}' does not exist."))
        })?),
    };
    let is_full_time = f.bool("isFullTime")?;
    Ok(PositionChange {
        employment_type,
        work_location,
        job_title,
        flsa,
        manager,
        department,
        is_full_time,
    })
}

fn apply_position(store: &mut Store, idx: usize, p: PositionChange) {
    let title = p.job_title.and_then(|j| store.job_titles.get(j)).cloned();
    let e = &mut store.employees[idx];
    e.employment_type = p.employment_type;
    e.work_location = p.work_location;
    if let Some(t) = title {
        e.job_title = Some(t.title);
        e.job_code = Some(t.code);
    }
    if let Some(flsa) = p.flsa {
        e.flsa = Some(flsa);
    }
    if let Some(m) = p.manager {
        e.manager = Some(m);
    }
    if let Some(d) = p.department {
        e.department = d;
    }
    if let Some(ft) = p.is_full_time {
        e.is_full_time = Some(ft);
    }
}

/// W2 `PUT /v1/employees/{id}/position`.
pub(crate) fn position(
    store: &mut Store,
    idx: usize,
    body: &Map<String, Value>,
) -> Result<(), Invalid> {
    let change = position_change(store, idx, &Fields(body))?;
    apply_position(store, idx, change);
    Ok(())
}

fn rehire_flag(f: &Fields<'_>) -> Result<Option<String>, Invalid> {
    match f.value("eligibleForRehire") {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(if *b { "Yes" } else { "No" }.to_owned())),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some("Yes".to_owned())),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some("No".to_owned())),
        Some(other) => Err(Invalid::one(
            "eligibleForRehire",
            format!("The value {other} is not valid."),
        )),
    }
}

/// W3 `PUT /v1/employees/{id}/status`.
pub(crate) fn status(
    store: &mut Store,
    idx: usize,
    body: &Map<String, Value>,
) -> Result<(), Invalid> {
    let f = Fields(body);
    let date = f
        .date("effectiveDate")?
        .ok_or_else(|| required("effectiveDate"))?;
    let new = f
        .status("employeeStatus")?
        .ok_or_else(|| required("employeeStatus"))?;
    if let Some(r) = f.text("employeeStatusReasonId")?
        && !is_guid(r)
    {
        return Err(Invalid::one(
            "employeeStatusReasonId",
            format!("The value '{r}' is not valid."),
        ));
    }
    let rehire = rehire_flag(&f)?;
    let voluntary = f.bool("isVoluntaryByEmployee")?;
    let _notes = f.str("notes")?;
    if new.is_separated() {
        let mut missing = Vec::new();
        if rehire.is_none() {
            missing.push((
                "eligibleForRehire".to_owned(),
                format!("EligibleForRehire is required for status {}.", new.as_str()),
            ));
        }
        if voluntary.is_none() {
            missing.push((
                "isVoluntaryByEmployee".to_owned(),
                format!(
                    "IsVoluntaryByEmployee is required for status {}.",
                    new.as_str()
                ),
            ));
        }
        if !missing.is_empty() {
            return Err(Invalid(missing));
        }
    }
    let e = &mut store.employees[idx];
    if new == EmploymentStatus::Active && e.status.is_separated() {
        return Err(Invalid::one(
            "employeeStatus",
            "A separated employee is rehired with PUT /v1/employees/{employeeId}/positionandstatus.",
        ));
    }
    apply_status(e, new, date, None, rehire);
    Ok(())
}

/// W4 `PUT /v1/employees/{id}/positionandstatus` (rehire).
pub(crate) fn position_and_status(
    store: &mut Store,
    idx: usize,
    body: &Map<String, Value>,
) -> Result<(), Invalid> {
    let f = Fields(body);
    let status = f
        .status("employmentStatus")?
        .ok_or_else(|| required("employmentStatus"))?;
    if status != EmploymentStatus::Active {
        return Err(Invalid::one(
            "employmentStatus",
            "Only the Active status is allowed.",
        ));
    }
    let rehire_date = f
        .date("rehireDate")?
        .ok_or_else(|| required("rehireDate"))?;
    let change = position_change(store, idx, &f)?;
    apply_position(store, idx, change);
    let e = &mut store.employees[idx];
    apply_status(e, EmploymentStatus::Active, rehire_date, None, None);
    e.rehire_date = Some(rehire_date);
    e.effective_end_date = None;
    Ok(())
}

/// The library's HR-side edit: `firstName`, `middleName`, `lastName`,
/// `legalFirstName`, `legalLastName`, `workEmail`, `homeEmail`,
/// `employeeNumber`, `alternateEmployeeNumber`, `jobTitle` (a known title
/// also sets `jobCode`; any other text is stored as is), `jobCode`,
/// `departmentCode` or `departmentId`, `workLocation` (name), `managerId`
/// (GUID or `null` to clear), `status` (+ `statusDate`, default today;
/// `terminationReason`, `leaveReason`, `eligibleForRehire`),
/// `terminationDate`, `reHireDate`, `hireDate`, `isFullTime`, `flsa`, `type`.
/// A `null` clears the optional text fields.
pub(crate) fn admin_update(
    store: &mut Store,
    idx: usize,
    body: &Map<String, Value>,
    today: NaiveDate,
) -> Result<(), Invalid> {
    let f = Fields(body);
    let mut e: Employee = store.employees[idx].clone();
    let set_text = |key: &str, slot: &mut String| -> Result<(), Invalid> {
        if let Some(v) = f.text(key)? {
            *slot = v.to_owned();
        }
        Ok(())
    };
    set_text("firstName", &mut e.first_name)?;
    set_text("lastName", &mut e.last_name)?;
    set_text("legalFirstName", &mut e.legal_first_name)?;
    set_text("legalLastName", &mut e.legal_last_name)?;
    set_text("employeeNumber", &mut e.employee_number)?;
    let set_opt = |key: &str, slot: &mut Option<String>| -> Result<(), Invalid> {
        if f.has(key) {
            *slot = f.text(key)?.map(str::to_owned);
        }
        Ok(())
    };
    set_opt("middleName", &mut e.middle_name)?;
    set_opt("alternateEmployeeNumber", &mut e.alternate_employee_number)?;
    set_opt("jobCode", &mut e.job_code)?;
    for (key, slot) in [
        ("workEmail", &mut e.work_email),
        ("homeEmail", &mut e.home_email),
    ] {
        if f.has(key) {
            *slot = match f.text(key)? {
                None => None,
                Some(s) if is_email(s) => Some(s.trim().to_owned()),
                Some(_) => return Err(Invalid::one(key, "Email address is invalid")),
            };
        }
    }
    if f.has("jobTitle") {
        match f.text("jobTitle")? {
            None => e.job_title = None,
            Some(t) => match store.job_title_by_name(t) {
                Some(j) => {
                    e.job_title = Some(store.job_titles[j].title.clone());
                    e.job_code = Some(store.job_titles[j].code.clone());
                }
                None => e.job_title = Some(t.to_owned()),
            },
        }
    }
    if let Some(code) = f.value("departmentCode") {
        let code = match code {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        e.department = store
            .department_by_code(&code)
            .ok_or_else(|| Invalid::one("departmentCode", "unknown department code"))?;
    }
    if let Some(id) = f.text("departmentId")? {
        e.department = store
            .department_by_id(id)
            .ok_or_else(|| Invalid::one("departmentId", "unknown department"))?;
    }
    if let Some(name) = f.text("workLocation")? {
        e.work_location = store
            .work_location_by_name(name)
            .ok_or_else(|| Invalid::one("workLocation", "unknown work location"))?;
    }
    if f.has("managerId") {
        e.manager = match f.text("managerId")? {
            None => None,
            Some(m) => {
                let mi = store
                    .index_of(m)
                    .filter(|&mi| mi != idx)
                    .ok_or_else(|| Invalid::one("managerId", "unknown manager"))?;
                Some(store.employees[mi].id.clone())
            }
        };
    }
    if let Some(d) = f.date("hireDate")? {
        e.hire_date = d;
    }
    if let Some(ft) = f.bool("isFullTime")? {
        e.is_full_time = Some(ft);
    }
    if let Some(flsa) = f.enum_of("flsa", FLSA_TYPES)? {
        e.flsa = Some(flsa);
    }
    if let Some(t) = f.enum_of("type", EMPLOYMENT_TYPES)? {
        e.employment_type = t;
    }
    if let Some(status) = f.any_status("status")? {
        let date = f.date("statusDate")?.unwrap_or(today);
        let reason = if status.is_separated() {
            f.text("terminationReason")?
        } else {
            f.text("leaveReason")?
        };
        let rehire = rehire_flag(&f)?;
        apply_status(&mut e, status, date, reason.map(str::to_owned), rehire);
    }
    if f.has("terminationDate") {
        e.termination_date = f.date("terminationDate")?;
    }
    if f.has("reHireDate") {
        e.rehire_date = f.date("reHireDate")?;
    }
    store.employees[idx] = e;
    Ok(())
}

/// The library's hire: `firstName` and `lastName` required; everything
/// [`admin_update`] knows is accepted. Defaults: the department with code
/// `500`, its head as manager, a generated work e-mail (pass
/// `"workEmail": null` for none), hire date today, status Active, the next
/// employee number. Returns the new employee's index.
pub(crate) fn hire(
    store: &mut Store,
    body: &Map<String, Value>,
    today: NaiveDate,
) -> Result<usize, Invalid> {
    let f = Fields(body);
    let first = f.text("firstName")?.ok_or_else(|| required("firstName"))?;
    let last = f.text("lastName")?.ok_or_else(|| required("lastName"))?;
    let department = match (f.value("departmentCode"), f.text("departmentId")?) {
        (Some(code), _) => {
            let code = match code {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            store
                .department_by_code(&code)
                .ok_or_else(|| Invalid::one("departmentCode", "unknown department code"))?
        }
        (None, Some(id)) => store
            .department_by_id(id)
            .ok_or_else(|| Invalid::one("departmentId", "unknown department"))?,
        (None, None) => store.department_by_code("500").unwrap_or(0),
    };
    let number = match f.text("employeeNumber")? {
        Some(n) => {
            if store.employees.iter().any(|e| e.employee_number == n) {
                return Err(Invalid::one(
                    "employeeNumber",
                    format!("Employee number {n} is already used in the tenant."),
                ));
            }
            n.to_owned()
        }
        None => {
            let n = store.next_employee_number;
            store.next_employee_number += 1;
            n.to_string()
        }
    };
    let work_email = if f.has("workEmail") {
        None // set by admin_update below (validated there)
    } else {
        Some(hire_email(store, first, last))
    };
    let mut person = new_person(&mut store.rng);
    person.first = first.to_owned();
    person.legal_first = first.to_owned();
    person.last = last.to_owned();
    person.middle = None;
    let hire_date = f.date("hireDate")?.unwrap_or(today);
    let refs = (
        &store.departments[..],
        &store.work_locations[..],
        &store.job_titles[..],
    );
    let mut e = generate::build_employee(
        &mut store.rng,
        refs,
        person,
        department,
        None,
        hire_date,
        number,
        work_email,
    );
    // Default manager: the department's first (head) member.
    e.manager = store
        .employees
        .iter()
        .find(|x| x.department == department && !x.status.is_separated())
        .map(|x| x.id.clone());
    let idx = store.employees.len();
    store.by_id.insert(e.id.clone(), idx);
    store.employees.push(e);
    if let Err(err) = admin_update(store, idx, body, today) {
        store.employees.pop();
        store.by_id.retain(|_, v| *v != idx);
        return Err(err);
    }
    Ok(idx)
}
