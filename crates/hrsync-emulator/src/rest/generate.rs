//! Deterministic generation of the Acme HR workforce from a seed, and the
//! derived records (details, compensation) of every employee.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};

/// First names: common ones plus diacritics (é, ü, ñ, ø, …).
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Ana",
    "Adam",
    "Adrián",
    "Agnès",
    "Aisha",
    "Akira",
    "Alejandro",
    "Alice",
    "Amélie",
    "Amir",
    "Andrea",
    "Anja",
    "Anna",
    "Antoine",
    "Arjun",
    "Astrid",
    "Beatriz",
    "Benjamin",
    "Bjørn",
    "Brian",
    "Bruno",
    "Camille",
    "Carlos",
    "Carmen",
    "Catherine",
    "Charlotte",
    "Chloé",
    "Chen",
    "Christian",
    "Claire",
    "Clément",
    "Conor",
    "Daniel",
    "David",
    "Dmitri",
    "Dolores",
    "Élise",
    "Elena",
    "Emily",
    "Emma",
    "Erik",
    "Esther",
    "Fatima",
    "Felipe",
    "Fernando",
    "Finn",
    "Florian",
    "François",
    "Frédéric",
    "Gabriel",
    "Giulia",
    "Grace",
    "Hannah",
    "Hans",
    "Hélène",
    "Hiroshi",
    "Ibrahim",
    "Inês",
    "Ingrid",
    "Isabel",
    "Ivan",
    "Jack",
    "Jakob",
    "James",
    "Javier",
    "Jérôme",
    "João",
    "Jonas",
    "José",
    "Julia",
    "Jürgen",
    "Karin",
    "Kasper",
    "Katarzyna",
    "Kenji",
    "Laila",
    "Lars",
    "Laura",
    "Léa",
    "Leon",
    "Liam",
    "Linnéa",
    "Lucas",
    "Lucía",
    "Luis",
    "Maja",
    "Malik",
    "Marco",
    "María",
    "Mark",
    "Martín",
    "Mateo",
    "Matthias",
    "Maxime",
    "Mei",
    "Michael",
    "Miguel",
    "Mikael",
    "Mohammed",
    "Nadia",
    "Natalia",
    "Niamh",
    "Nicolás",
    "Noah",
    "Noémie",
    "Olga",
    "Oliver",
    "Olivia",
    "Omar",
    "Óscar",
    "Pablo",
    "Patrick",
    "Paul",
    "Pedro",
    "Peter",
    "Priya",
    "Rafael",
    "Rahul",
    "Raquel",
    "René",
    "Robert",
    "Rosa",
    "Ruth",
    "Sakura",
    "Samuel",
    "Sara",
    "Sean",
    "Sebastián",
    "Siobhan",
    "Sofía",
    "Søren",
    "Stefan",
    "Susanne",
    "Thomas",
    "Tomás",
    "Uwe",
    "Valentina",
    "Victor",
    "Wei",
    "William",
    "Xavier",
    "Yasmin",
    "Yusuf",
    "Zoë",
    "Zoltán",
];

/// Last names: with diacritics, apostrophes (O'Brien) and particles.
pub(crate) const LAST_NAMES: &[&str] = &[
    "Lima",
    "Almeida",
    "Andersen",
    "Bauer",
    "Becker",
    "Bergström",
    "Bernard",
    "Brown",
    "Castro",
    "Chen",
    "Clarke",
    "Costa",
    "D'Angelo",
    "Da Silva",
    "Dąbrowski",
    "Dubois",
    "Dupont",
    "Eriksen",
    "Fernández",
    "Ferreira",
    "Fischer",
    "Fontaine",
    "García",
    "Gómez",
    "González",
    "Gonçalves",
    "Green",
    "Groß",
    "Hansen",
    "Hernández",
    "Hoffmann",
    "Hughes",
    "Ibáñez",
    "Ito",
    "Jackson",
    "Jensen",
    "Johansson",
    "Johnson",
    "Jones",
    "Kelly",
    "Kim",
    "Klein",
    "Koch",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Laurent",
    "Lefèvre",
    "Lehmann",
    "Li",
    "López",
    "Løkke",
    "Martin",
    "Martínez",
    "Meyer",
    "Moreau",
    "Morales",
    "Müller",
    "Muñoz",
    "Murphy",
    "N'Diaye",
    "Nakamura",
    "Navarro",
    "Nielsen",
    "Nowak",
    "Núñez",
    "O'Brien",
    "O'Connor",
    "O'Neill",
    "O'Sullivan",
    "Oliveira",
    "Olsen",
    "Ortiz",
    "Pereira",
    "Petit",
    "Pérez",
    "Petersen",
    "Popescu",
    "Quinn",
    "Ramírez",
    "Reyes",
    "Richter",
    "Rodrigues",
    "Rodríguez",
    "Romero",
    "Rossi",
    "Rousseau",
    "Ruiz",
    "Sánchez",
    "Santos",
    "Sato",
    "Schäfer",
    "Schmidt",
    "Schneider",
    "Schröder",
    "Schulz",
    "Silva",
    "Singh",
    "Smith",
    "Sørensen",
    "Souza",
    "Suzuki",
    "Svensson",
    "Takahashi",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Torres",
    "Van der Berg",
    "Vargas",
    "Vasquez",
    "Vogel",
    "Wagner",
    "Walsh",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wójcik",
    "Yamamoto",
    "Zhang",
    "Zimmermann",
    "Ødegaard",
    "Çelik",
    "Åberg",
    "Mac Giolla",
    "Ó Súilleabháin",
    "D'Souza",
    "Jiménez",
    "Östlund",
    "Brandão",
    "Peña",
    "Cañizares",
    "Ibarra",
    "Kühn",
    "Krüger",
    "Wüst",
    "Béranger",
];

/// Short names some employees go by.
const PREFERRED: &[(&str, &str)] = &[
    ("Alejandro", "Alex"),
    ("Benjamin", "Ben"),
    ("Catherine", "Cathy"),
    ("Christian", "Chris"),
    ("Daniel", "Dan"),
    ("Elena", "Lena"),
    ("Gabriel", "Gabe"),
    ("Isabel", "Isa"),
    ("James", "Jim"),
    ("Katarzyna", "Kasia"),
    ("Michael", "Mike"),
    ("Natalia", "Nat"),
    ("Patrick", "Pat"),
    ("Robert", "Bob"),
    ("Samuel", "Sam"),
    ("Sebastián", "Seba"),
    ("Thomas", "Tom"),
    ("Valentina", "Vale"),
    ("William", "Bill"),
];

/// A department: code, name, job titles, cost center.
pub(crate) struct Department {
    pub code: &'static str,
    pub name: &'static str,
    pub titles: &'static [&'static str],
    pub cost_center: &'static str,
}

pub(crate) const DEPARTMENTS: &[Department] = &[
    Department {
        code: "ENG",
        name: "Engineering",
        titles: &[
            "Engineer",
            "Software Engineer",
            "QA Engineer",
            "Site Reliability Engineer",
        ],
        cost_center: "CC-100",
    },
    Department {
        code: "SAL",
        name: "Sales",
        titles: &[
            "Account Executive",
            "Sales Representative",
            "Sales Engineer",
        ],
        cost_center: "CC-200",
    },
    Department {
        code: "MKT",
        name: "Marketing",
        titles: &["Marketing Specialist", "Content Writer", "Designer"],
        cost_center: "CC-300",
    },
    Department {
        code: "FIN",
        name: "Finance",
        titles: &["Accountant", "Financial Analyst", "Controller"],
        cost_center: "CC-400",
    },
    Department {
        code: "HR",
        name: "People & Culture",
        titles: &["HR Generalist", "Recruiter", "HR Business Partner"],
        cost_center: "CC-500",
    },
    Department {
        code: "OPS",
        name: "Operations",
        titles: &[
            "Operations Analyst",
            "Office Manager",
            "Facilities Coordinator",
        ],
        cost_center: "CC-600",
    },
    Department {
        code: "LEG",
        name: "Legal",
        titles: &["Counsel", "Paralegal", "Compliance Officer"],
        cost_center: "CC-700",
    },
    Department {
        code: "SUP",
        name: "Customer Support",
        titles: &["Support Agent", "Support Specialist", "Technical Writer"],
        cost_center: "CC-800",
    },
];

/// Locations and the currency people there are paid in.
const LOCATIONS: &[(&str, &str)] = &[
    ("Lisbon", "EUR"),
    ("Berlin", "EUR"),
    ("Paris", "EUR"),
    ("London", "GBP"),
    ("New York", "USD"),
    ("Toronto", "CAD"),
    ("São Paulo", "BRL"),
];

const SENIORITY: &[&str] = &["Junior", "", "", "Senior", "Senior", "Lead", "Principal"];

pub(crate) fn department(code: &str) -> Option<&'static Department> {
    DEPARTMENTS.iter().find(|d| d.code == code)
}

/// `E` + the number, zero-padded to 4 digits.
pub(crate) fn employee_id(number: u64) -> String {
    format!("E{number:04}")
}

/// An RFC 3339 UTC timestamp (`Z`, fraction only when there is one).
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// An ASCII e-mail local part from a name (`Ana` + `O'Brien` → `ana.obrien`).
fn email_part(s: &str) -> String {
    deunicode::deunicode(s)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// One employee with the records hanging off it.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    /// The employee JSON as served.
    pub employee: Value,
    /// `GET /employees/{id}/details`.
    pub details: Value,
    /// The compensation grade and currency.
    pub grade: String,
    pub currency: String,
}

impl Record {
    pub(crate) fn id(&self) -> &str {
        self.employee
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The e-mail addresses taken so far.
#[derive(Default)]
pub(crate) struct Emails(std::collections::HashSet<String>);

impl Emails {
    pub(crate) fn take(&mut self, first: &str, last: &str, domain: &str) -> String {
        let base = format!("{}.{}", email_part(first), email_part(last));
        let base = if base == "." {
            "employee".to_owned()
        } else {
            base
        };
        let mut n = 1u32;
        loop {
            let local = if n == 1 {
                base.clone()
            } else {
                format!("{base}{n}")
            };
            let email = format!("{local}@{domain}");
            if self.0.insert(email.clone()) {
                return email;
            }
            n += 1;
        }
    }
}

/// What a new employee is made of.
pub(crate) struct NewEmployee<'a> {
    pub number: u64,
    pub first: &'a str,
    pub last: &'a str,
    pub preferred: Option<&'a str>,
    pub email: String,
    pub title: &'a str,
    pub department_code: &'a str,
    pub department_name: &'a str,
    pub location: &'a str,
    pub manager: Option<String>,
    pub status: &'a str,
    pub hire_date: NaiveDate,
    pub termination_date: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn employee_json(e: &NewEmployee<'_>) -> Value {
    json!({
        "id": employee_id(e.number),
        "employee_number": e.number,
        "personal": {
            "first_name": e.first,
            "last_name": e.last,
            "preferred_name": e.preferred,
            "email": e.email,
        },
        "job": {
            "title": e.title,
            "department": {"code": e.department_code, "name": e.department_name},
            "location": e.location,
        },
        "manager_id": e.manager,
        "status": e.status,
        "hire_date": date(e.hire_date),
        "termination_date": e.termination_date.map(date),
        "updated_at": timestamp(e.updated_at),
    })
}

/// The details record (`title` is a longer title than `job.title`).
pub(crate) fn details_json(
    number: u64,
    seniority: &str,
    title: &str,
    cost_center: &str,
    floor: u32,
) -> Value {
    let full_title = if seniority.is_empty() {
        title.to_owned()
    } else {
        format!("{seniority} {title}")
    };
    json!({
        "employee_id": employee_id(number),
        "phone": format!("+1 555 {:04}", 100 + number % 9900),
        "office": format!("HQ-{floor}"),
        "title": full_title,
        "cost_center": cost_center,
    })
}

pub(crate) fn currency_of(location: &str) -> &'static str {
    LOCATIONS
        .iter()
        .find(|(l, _)| *l == location)
        .map_or("EUR", |(_, c)| c)
}

pub(crate) fn first_location() -> &'static str {
    LOCATIONS[0].0
}

/// Generate `count` employees deterministically from `seed`. E0001 heads
/// the company (no manager); the next ones head the departments; everybody
/// else reports to an earlier employee of their department. About 5 %
/// terminated and 3 % on leave.
pub(crate) fn generate(count: usize, seed: u64, domain: &str) -> (Vec<Record>, Emails) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut emails = Emails::default();
    let mut records = Vec::with_capacity(count);
    // Members (ids) of each department so far.
    let mut members: Vec<Vec<String>> = vec![Vec::new(); DEPARTMENTS.len()];
    let epoch = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    for i in 0..count {
        let number = i as u64 + 1;
        let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
        let preferred = PREFERRED
            .iter()
            .find(|(f, _)| *f == first)
            .filter(|_| rng.u32(..100) < 40)
            .map(|(_, p)| *p);
        let email = emails.take(first, last, domain);
        let dept_index = if i == 0 {
            4 // the CEO sits in no particular department; call it HR-adjacent
        } else if i <= DEPARTMENTS.len() {
            i - 1
        } else {
            rng.usize(..DEPARTMENTS.len())
        };
        let dept = &DEPARTMENTS[dept_index];
        let title = if i == 0 {
            "Chief Executive Officer"
        } else if i <= DEPARTMENTS.len() {
            "Head of Department"
        } else {
            dept.titles[rng.usize(..dept.titles.len())]
        };
        let (location, currency) = LOCATIONS[rng.usize(..LOCATIONS.len())];
        let manager = if i == 0 {
            None
        } else {
            let pool = &members[dept_index];
            if pool.is_empty() || i <= DEPARTMENTS.len() {
                Some(employee_id(1))
            } else {
                Some(pool[rng.usize(..pool.len())].clone())
            }
        };
        let roll = rng.u32(..100);
        let status = if i == 0 {
            "active"
        } else if roll < 5 {
            "terminated"
        } else if roll < 8 {
            "on_leave"
        } else {
            "active"
        };
        let hire_date = ymd(2010, 1, 4) + Duration::days(rng.i64(0..5400));
        let updated_at = epoch + Duration::seconds(rng.i64(0..540 * 86_400));
        let termination_date = (status == "terminated").then(|| {
            let t = updated_at.date_naive() - Duration::days(rng.i64(0..30));
            t.max(hire_date)
        });
        let employee = employee_json(&NewEmployee {
            number,
            first,
            last,
            preferred,
            email,
            title,
            department_code: dept.code,
            department_name: dept.name,
            location,
            manager,
            status,
            hire_date,
            termination_date,
            updated_at,
        });
        let seniority = if i <= DEPARTMENTS.len() {
            ""
        } else {
            SENIORITY[rng.usize(..SENIORITY.len())]
        };
        let details = details_json(number, seniority, title, dept.cost_center, rng.u32(1..10));
        let grade = if i == 0 {
            "G9".to_owned()
        } else {
            format!("G{}", rng.u32(1..9))
        };
        if i > 0 {
            members[dept_index].push(employee_id(number));
        }
        records.push(Record {
            employee,
            details,
            grade,
            currency: currency.to_owned(),
        });
    }
    (records, emails)
}
