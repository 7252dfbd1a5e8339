//! Deterministic generation of the emulated company from a seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate};

use super::data::{self, COMPANY_STRUCTURES, LOCALES, Locale};
use super::model::{Cell, Db, Row, User, c, email_part};

/// "Today" of the generated data set (generation must not depend on the clock).
fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default()
}

/// Shares the many repeated strings (names, cities, dates, "") between rows.
#[derive(Default)]
struct Interner(HashMap<String, Arc<str>>);

impl Interner {
    fn cell(&mut self, s: &str) -> Cell {
        if let Some(a) = self.0.get(s) {
            return Cell::Str(a.clone());
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(s.to_owned(), a.clone());
        Cell::Str(a)
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn weighted<'a, T>(rng: &mut fastrand::Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.u32(..total.max(1));
    for item in items {
        let w = weight(item);
        if roll < w {
            return item;
        }
        roll -= w;
    }
    &items[items.len() - 1]
}

fn random_date(rng: &mut fastrand::Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + Duration::days(rng.i64(0..=span))
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn digits(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
}

const NICKNAMES: &[(&str, &str)] = &[
    ("Robert", "Bob"),
    ("William", "Bill"),
    ("Elizabeth", "Liz"),
    ("Michael", "Mike"),
    ("Christopher", "Chris"),
    ("Alejandro", "Álex"),
    ("Giuseppe", "Beppe"),
    ("Katarzyna", "Kasia"),
    ("Małgorzata", "Gosia"),
    ("Jennifer", "Jen"),
];

struct Person {
    first: &'static str,
    last: &'static str,
    gender: &'static str,
    locale: &'static Locale,
}

fn person(rng: &mut fastrand::Rng) -> Person {
    // Deliberate duplicates of very common names.
    let roll = rng.u32(..100);
    if roll < 2 {
        return Person {
            first: "John",
            last: "Smith",
            gender: "Male",
            locale: &LOCALES[0],
        };
    }
    if roll < 4 {
        let locale = LOCALES
            .iter()
            .find(|l| l.country == "MX")
            .unwrap_or(&LOCALES[0]);
        return Person {
            first: "Maria",
            last: "Garcia",
            gender: "Female",
            locale,
        };
    }
    let locale = weighted(rng, LOCALES, |l| l.weight);
    let (first, gender) = *pick(rng, locale.first_names);
    let last = *pick(rng, locale.last_names);
    Person {
        first,
        last,
        gender,
        locale,
    }
}

pub(crate) fn generate(employees: usize, seed: u64) -> Db {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut strings = Interner::default();
    let today = reference_date();

    let mut rows: BTreeMap<i64, Row> = BTreeMap::new();
    let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut heads: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut used_emails: HashSet<String> = HashSet::new();
    let mut admin_email = String::new();

    let departments: Vec<&data::CompanyStructure> =
        COMPANY_STRUCTURES.iter().filter(|s| s.id != 1).collect();

    for n in 1..=employees {
        let id = n as i64;
        let p = person(&mut rng);
        let loc = p.locale;

        // Department, job title, supervisor.
        let (dept, job_title, supervisor): (i64, i64, Option<i64>) = if id == 1 {
            (1, 11, None)
        } else if (id as usize) <= departments.len() + 1 {
            // ids 2..=11 head the departments 2..=11.
            let d = departments[id as usize - 2];
            let boss = d
                .parent
                .and_then(|parent| heads.get(&parent).and_then(|h| h.first().copied()))
                .unwrap_or(1);
            heads.insert(d.id, vec![id]);
            (d.id, 10, Some(boss))
        } else {
            let d = if rng.u32(..100) == 0 {
                &COMPANY_STRUCTURES[0]
            } else {
                *weighted(&mut rng, &departments, |d| d.weight)
            };
            let titles = if d.id == 1 {
                &d.job_titles[1..]
            } else {
                d.job_titles
            };
            let title = *pick(&mut rng, titles);
            let pool = members.get(&d.id).map(Vec::as_slice).unwrap_or(&[]);
            let boss = if pool.is_empty() {
                1
            } else {
                // Earlier hires are more senior: pick among the first eighth.
                let cap = pool.len().div_ceil(8).max(1);
                pool[rng.usize(..cap)]
            };
            (d.id, title, Some(boss))
        };
        members.entry(dept).or_default().push(id);

        let mut row = Row::empty();
        row.set(c::ID, Cell::Int(id));
        row.set(c::EMPLOYEE_ID, Cell::str(&format!("EMP{id:05}")));
        row.set(c::FIRST_NAME, strings.cell(p.first));
        let middle = match rng.u32(..10) {
            0..=6 => strings.cell(""),
            7 | 8 => strings.cell(pick::<&str>(&mut rng, loc.middle_names)),
            _ => Cell::Null,
        };
        row.set(c::MIDDLE_NAME, middle);
        row.set(c::LAST_NAME, strings.cell(p.last));
        row.set(c::NATIONALITY, Cell::Int(loc.nationality));
        let youngest = if id == 1 {
            ymd(1985, 12, 31)
        } else {
            ymd(2003, 12, 31)
        };
        let birthday = random_date(&mut rng, ymd(1960, 1, 1), youngest);
        row.set(c::BIRTHDAY, strings.cell(&birthday.to_string()));
        row.set(c::GENDER, strings.cell(p.gender));
        if rng.u32(..20) != 0 {
            row.set(
                c::MARITAL_STATUS,
                strings.cell(pick::<&str>(&mut rng, data::MARITAL_STATUSES)),
            );
        }
        let national_id = format!(
            "{}-{}-{}",
            digits(&mut rng, 3),
            digits(&mut rng, 2),
            digits(&mut rng, 4)
        );
        if loc.country == "US" && rng.u32(..10) < 7 {
            row.set(c::SSN_NUM, Cell::str(&national_id));
        } else {
            row.set(c::SSN_NUM, strings.cell(""));
        }
        row.set(c::NIC_NUM, Cell::str(&national_id));
        row.set(c::OTHER_ID, strings.cell(""));
        if rng.u32(..10) < 4 {
            let letters: String = (0..3).map(|_| char::from(b'A' + rng.u8(0..26))).collect();
            row.set(
                c::DRIVING_LICENSE,
                Cell::str(&format!(
                    "{}-{}-{letters}",
                    digits(&mut rng, 3),
                    digits(&mut rng, 3)
                )),
            );
            let exp = random_date(&mut rng, ymd(2024, 1, 1), ymd(2032, 12, 31));
            row.set(c::DRIVING_LICENSE_EXP_DATE, strings.cell(&exp.to_string()));
        } else {
            row.set(c::DRIVING_LICENSE, strings.cell(""));
        }
        let employment = match rng.u32(..100) {
            _ if id == 1 => 3,
            0..=69 => 3,
            70..=84 => 1,
            85..=91 => 6,
            92..=96 => 4,
            _ => 2,
        };
        row.set(c::EMPLOYMENT_STATUS, Cell::Int(employment));
        row.set(c::JOB_TITLE, Cell::Int(job_title));
        let pay_grade = if job_title == 10 || job_title == 11 || job_title == 15 {
            1
        } else {
            match rng.u32(..10) {
                0..=3 => 2,
                4..=7 => 3,
                _ => 4,
            }
        };
        row.set(c::PAY_GRADE, Cell::Int(pay_grade));
        if rng.u32(..5) == 0 {
            row.set(
                c::WORK_STATION_ID,
                Cell::str(&format!("W{:03}", rng.u32(1..400))),
            );
        } else {
            row.set(c::WORK_STATION_ID, strings.cell(""));
        }
        let (city, postal_prefix, province) = *pick(&mut rng, loc.cities);
        let street = *pick(&mut rng, loc.streets);
        row.set(
            c::ADDRESS1,
            Cell::str(&format!("{} {street}", rng.u32(1..3000))),
        );
        let address2 = match rng.u32(..10) {
            0..=5 => String::new(),
            6 | 7 => format!("Apt {}", rng.u32(1..60)),
            _ => city.to_owned(),
        };
        row.set(c::ADDRESS2, strings.cell(&address2));
        row.set(c::CITY, strings.cell(city));
        row.set(c::COUNTRY, strings.cell(loc.country));
        if let Some(pv) = province {
            row.set(c::PROVINCE, Cell::Int(pv));
        }
        let postal_len = 5usize.saturating_sub(postal_prefix.chars().count()).max(2);
        row.set(
            c::POSTAL_CODE,
            strings.cell(&format!("{postal_prefix}{}", digits(&mut rng, postal_len))),
        );
        let phone = Cell::str(&format!("{} {}", loc.phone_prefix, digits(&mut rng, 9)));
        if rng.u32(..10) < 8 {
            row.set(c::HOME_PHONE, phone.clone());
        }
        row.set(c::MOBILE_PHONE, phone.clone());
        if rng.u32(..10) < 6 {
            row.set(c::WORK_PHONE, phone);
        }

        // work_email: first.last@example.test, id appended on collisions, ~1% none.
        let local = format!("{}.{}", email_part(p.first), email_part(p.last));
        let mut email = format!("{local}@example.test");
        if used_emails.contains(&email) {
            email = format!("{local}{id}@example.test");
        }
        if id == 1 || rng.u32(..100) != 0 {
            used_emails.insert(email.clone());
            row.set(c::WORK_EMAIL, Cell::str(&email));
            if id == 1 {
                admin_email = email;
            }
        }
        if rng.bool() {
            row.set(
                c::PRIVATE_EMAIL,
                Cell::str(&format!(
                    "{}{}{}@mail.example.test",
                    email_part(p.first),
                    email_part(p.last),
                    rng.u32(1..100)
                )),
            );
        }

        let joined = random_date(&mut rng, ymd(2005, 1, 1), today - Duration::days(30));
        let joined = joined.max(ymd(birthday.year() + 18, 1, 1)).min(today);
        row.set(c::JOINED_DATE, strings.cell(&joined.to_string()));
        if rng.u32(..10) < 6 {
            row.set(
                c::CONFIRMATION_DATE,
                strings.cell(&(joined + Duration::days(90)).to_string()),
            );
        }
        if let Some(boss) = supervisor {
            row.set(c::SUPERVISOR, Cell::Int(boss));
            if rng.u32(..100) < 8 {
                let grand = rows
                    .get(&boss)
                    .and_then(|r| r.get(c::SUPERVISOR).as_int())
                    .unwrap_or(1);
                let mut list = vec![grand];
                if rng.bool() && id > 2 {
                    let other = rng.i64(1..id);
                    if other != grand && other != boss {
                        list.push(other);
                    }
                }
                let text = format!(
                    "[{}]",
                    list.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                row.set(c::INDIRECT_SUPERVISORS, Cell::str(&text));
            }
            if rng.u32(..10) == 0 {
                row.set(c::APPROVER1, Cell::Int(boss));
            }
        }
        row.set(c::DEPARTMENT, Cell::Int(dept));
        if let Some((_, nick)) = NICKNAMES.iter().find(|(f, _)| *f == p.first)
            && rng.u32(..10) < 3
        {
            row.set(c::NAME_PREFERRED, strings.cell(nick));
        }
        if rng.u32(..10) == 0 {
            let pronoun = match (p.gender, rng.u32(..6)) {
                (_, 0) => "they/them",
                ("Female", _) => "she/her",
                _ => "he/him",
            };
            row.set(c::PRONOUNS, strings.cell(pronoun));
        }
        if id != 1 && rng.u32(..100) < 5 {
            row.set(c::STATUS, strings.cell("Terminated"));
            let end = random_date(&mut rng, joined + Duration::days(1), today);
            row.set(c::TERMINATION_DATE, strings.cell(&end.to_string()));
        } else {
            row.set(c::STATUS, strings.cell("Active"));
        }
        rows.insert(id, row);
    }

    Db {
        next_id: employees as i64 + 1,
        ids: rows.keys().copied().collect(),
        rows,
        user: User {
            employee: (employees > 0).then_some(1),
            username: "admin".to_owned(),
            email: if admin_email.is_empty() {
                "admin@example.test".to_owned()
            } else {
                admin_email
            },
            level: "Admin",
        },
        heads,
    }
}
