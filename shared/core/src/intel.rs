//! Threat intel feeds: the CISA Known Exploited Vulnerabilities catalog (JSON as CISA publishes
//! it, and its CSV form) and FIRST's daily EPSS scores (CSV).
//!
//! Parsing only; fetching lives in `muster-feeds` and storage behind the `IntelStore` port. A file
//! that is not the feed it claims to be is refused whole, with its line, never half-read: an empty
//! or truncated download must not wipe the intel it would replace.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::import::ImportError;

/// One KEV catalog entry: this CVE is exploited in the wild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    /// Upper-case `CVE-YYYY-NNNN`.
    pub cve: String,
    pub name: String,
    pub date_added: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
}

/// The whole catalog as one file carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KevCatalog {
    /// `catalogVersion` (JSON only).
    pub version: Option<String>,
    pub entries: Vec<KevEntry>,
}

/// One EPSS row: probability of exploitation activity in the next 30 days, and its percentile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    pub cve: String,
    pub probability: f32,
    pub percentile: f32,
}

/// A daily EPSS file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EpssFile {
    /// From the `#model_version:…,score_date:…` comment line.
    pub model_version: Option<String>,
    pub score_date: Option<NaiveDate>,
    pub scores: Vec<EpssScore>,
}

/// The header of the KEV catalog's CSV form, as CISA publishes it; columns are found by name.
pub const KEV_CSV_HEADER: &str = "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,\
                                  requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes";

/// The header of FIRST's daily EPSS CSV, after its `#model_version:…,score_date:…` line.
pub const EPSS_CSV_HEADER: &str = "cve,epss,percentile";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the CISA KEV catalog, as JSON (`{"catalogVersion", "vulnerabilities": […]}`) or in its CSV
/// form (columns found by header name), told apart by the first byte that is not whitespace.
///
/// CVE ids come out upper-cased and checked (`CVE-YYYY-NNNN…`); a CVE listed twice is kept once,
/// with its earliest `dateAdded` (and ransomware use if either listing has it). An empty catalog
/// is an error: replacing the stored catalog with nothing is never what a feed update means.
pub fn parse_kev(bytes: &[u8], origin: &str) -> Result<KevCatalog, ImportError> {
    let bytes = strip_bom(bytes);
    let catalog = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ImportError::at_line(
                origin,
                1,
                "empty file: expected the CISA KEV catalog (JSON, or CSV with its header)",
            ));
        }
        Some(b'{') => parse_kev_json(bytes, origin)?,
        Some(_) => parse_kev_csv(bytes, origin)?,
    };
    if catalog.entries.is_empty() {
        return Err(ImportError::new(origin, "no KEV entries: is this the KEV catalog?"));
    }
    Ok(catalog)
}

/// Reads one of FIRST's daily EPSS files: an optional `#model_version:…,score_date:…` line, the
/// header `cve,epss,percentile`, then one row per CVE.
///
/// Both numbers must lie in 0..=1. Built for the full file (~300k rows, ~10 MB): one reused
/// `csv::ByteRecord`, no allocation per row but the CVE id. Measured once (not a test): a generated
/// 300k-row, 9.3 MB file parses in 45–95 ms in a release build on a loaded 2-core machine, about
/// three times the bare `csv` read of the same bytes; the rest is float parsing and the ids.
/// An empty file, or one without rows, is an error for the same reason as an empty KEV catalog.
pub fn parse_epss(bytes: &[u8], origin: &str) -> Result<EpssFile, ImportError> {
    let mut rest = strip_bom(bytes);
    if rest.trim_ascii().is_empty() {
        return Err(ImportError::at_line(
            origin,
            1,
            format!("empty file: expected FIRST's daily EPSS CSV (header {EPSS_CSV_HEADER})"),
        ));
    }
    let mut file = EpssFile::default();
    // Lines consumed before the CSV reader starts counting.
    let mut skipped_lines = 0;
    if rest.first() == Some(&b'#') {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        read_epss_comment(&rest[1..end], origin, &mut file)?;
        rest = rest.get(end + 1..).unwrap_or_default();
        skipped_lines = 1;
    }

    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(rest);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(origin, &e, skipped_lines))?;
    let header_line = skipped_lines + header.position().map_or(1, |p| p.line() as usize);
    let expected = EPSS_CSV_HEADER.split(',');
    let header_matches = header.len() == 3
        && header
            .iter()
            .zip(expected)
            .all(|(found, want)| found.trim_ascii().eq_ignore_ascii_case(want.as_bytes()));
    if !header_matches {
        let found: Vec<_> = header.iter().map(String::from_utf8_lossy).collect();
        return Err(ImportError::at_line(
            origin,
            header_line,
            format!(
                "unexpected header {:?}: expected {EPSS_CSV_HEADER:?} (FIRST's daily EPSS CSV)",
                found.join(",")
            ),
        ));
    }

    // ~32 bytes a row ("CVE-2024-12345,0.00043,0.12345\n"): one allocation for the whole file.
    file.scores.reserve(rest.len() / 32);
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(origin, &e, skipped_lines))?
    {
        let line = skipped_lines + record.position().map_or(0, |p| p.line() as usize);
        // The reader is not flexible and the header has three fields, so every record has three.
        let [cve, epss, percentile] = [0, 1, 2].map(|i| record.get(i).unwrap_or_default());
        let Some(cve) = cve_id(cve) else {
            return Err(ImportError::at_line(
                origin,
                line,
                format!("cve {:?} is not a CVE id (CVE-YYYY-NNNN)", String::from_utf8_lossy(cve)),
            ));
        };
        let probability = unit_interval(epss, "epss", origin, line)?;
        let percentile = unit_interval(percentile, "percentile", origin, line)?;
        file.scores.push(EpssScore {
            cve,
            probability,
            percentile,
        });
    }
    if file.scores.is_empty() {
        return Err(ImportError::at_line(
            origin,
            header_line,
            "no EPSS scores after the header: is this FIRST's daily EPSS file?",
        ));
    }
    Ok(file)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// `raw` as an upper-case CVE id (`CVE-` + 4 digits + `-` + at least 4 digits), surrounding
/// whitespace ignored; `None` when it is not one.
fn cve_id(raw: &[u8]) -> Option<String> {
    let raw = raw.trim_ascii();
    let (prefix, rest) = raw.split_at_checked(4)?;
    let (year, number) = (rest.get(..4)?, rest.get(5..)?);
    let valid = prefix.eq_ignore_ascii_case(b"CVE-")
        && year.iter().all(u8::is_ascii_digit)
        && rest[4] == b'-'
        && number.len() >= 4
        && number.iter().all(u8::is_ascii_digit);
    if !valid {
        return None;
    }
    let mut id = String::with_capacity(raw.len());
    id.push_str("CVE-");
    // All ASCII digits and one dash, checked above.
    id.push_str(std::str::from_utf8(rest).ok()?);
    Some(id)
}

/// A number in 0..=1 from a CSV field.
fn unit_interval(raw: &[u8], field: &str, origin: &str, line: usize) -> Result<f32, ImportError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.trim().parse::<f32>().ok())
        .filter(|value| (0.0..=1.0).contains(value))
        .ok_or_else(|| {
            ImportError::at_line(
                origin,
                line,
                format!("{field} {:?} is not a number in 0..=1", String::from_utf8_lossy(raw)),
            )
        })
}

/// `YYYY-MM-DD`.
fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// The `model_version:…,score_date:…` line (without its `#`); unknown keys are ignored, so a new
/// one in a future file does not stop the import.
fn read_epss_comment(line: &[u8], origin: &str, file: &mut EpssFile) -> Result<(), ImportError> {
    let text = std::str::from_utf8(line).map_err(|_| ImportError::at_line(origin, 1, "first line is not UTF-8"))?;
    for part in text.trim().split(',') {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "model_version" if !value.is_empty() => file.model_version = Some(value.to_owned()),
            "score_date" => {
                let day = DateTime::parse_from_rfc3339(value)
                    .map(|instant| instant.with_timezone(&Utc).date_naive())
                    .ok()
                    .or_else(|| date(value))
                    .ok_or_else(|| {
                        ImportError::at_line(
                            origin,
                            1,
                            format!("score_date {value:?} is neither a date nor an RFC 3339 instant"),
                        )
                    })?;
                file.score_date = Some(day);
            }
            _ => {}
        }
    }
    Ok(())
}

/// An `ImportError` at the record a `csv` error names, `skipped_lines` lines further down.
fn csv_error(origin: &str, error: &csv::Error, skipped_lines: usize) -> ImportError {
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        _ => error.to_string(),
    };
    ImportError {
        line: error.position().map(|p| skipped_lines + p.line() as usize),
        ..ImportError::new(origin, message)
    }
}

/// Entries in file order, each CVE once.
#[derive(Default)]
struct KevEntries {
    entries: Vec<KevEntry>,
    index: HashMap<String, usize>,
}

impl KevEntries {
    fn add(&mut self, entry: KevEntry) {
        let Some(&at) = self.index.get(&entry.cve) else {
            self.index.insert(entry.cve.clone(), self.entries.len());
            self.entries.push(entry);
            return;
        };
        let kept = &mut self.entries[at];
        let ransomware = kept.ransomware || entry.ransomware;
        if entry.date_added < kept.date_added {
            *kept = entry;
        }
        kept.ransomware = ransomware;
    }
}

fn is_known(ransomware_use: &str) -> bool {
    ransomware_use.trim().eq_ignore_ascii_case("Known")
}

#[derive(Deserialize)]
struct KevJson {
    #[serde(rename = "catalogVersion", default)]
    version: Option<String>,
    vulnerabilities: Vec<KevJsonEntry>,
}

/// One `vulnerabilities[]` item; field checks run while serde_json reads, so its errors carry
/// the line of the bad value.
#[derive(Deserialize)]
struct KevJsonEntry {
    #[serde(rename = "cveID", deserialize_with = "json_cve")]
    cve: String,
    #[serde(rename = "vulnerabilityName")]
    name: String,
    #[serde(rename = "dateAdded", deserialize_with = "json_date_added")]
    date_added: NaiveDate,
    #[serde(rename = "dueDate", default, deserialize_with = "json_due_date")]
    due_date: Option<NaiveDate>,
    #[serde(rename = "knownRansomwareCampaignUse", default)]
    ransomware_use: Option<String>,
}

fn json_cve<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    cve_id(raw.as_bytes())
        .ok_or_else(|| serde::de::Error::custom(format!("cveID {raw:?} is not a CVE id (CVE-YYYY-NNNN)")))
}

fn json_date_added<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let raw = String::deserialize(deserializer)?;
    date(&raw).ok_or_else(|| serde::de::Error::custom(format!("dateAdded {raw:?} is not a date (YYYY-MM-DD)")))
}

fn json_due_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(raw) if !raw.trim().is_empty() => date(&raw)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("dueDate {raw:?} is not a date (YYYY-MM-DD)"))),
        _ => Ok(None),
    }
}

fn parse_kev_json(bytes: &[u8], origin: &str) -> Result<KevCatalog, ImportError> {
    let raw: KevJson = serde_json::from_slice(bytes).map_err(|e| json_error(origin, &e))?;
    let mut entries = KevEntries::default();
    for item in raw.vulnerabilities {
        entries.add(KevEntry {
            cve: item.cve,
            name: item.name,
            date_added: item.date_added,
            due_date: item.due_date,
            ransomware: item.ransomware_use.as_deref().is_some_and(is_known),
        });
    }
    Ok(KevCatalog {
        version: raw.version,
        entries: entries.entries,
    })
}

/// serde_json's error with its line and column moved into the `ImportError`.
fn json_error(origin: &str, error: &serde_json::Error) -> ImportError {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    let message = if error.is_eof() {
        format!("truncated JSON ({message}): was the download cut short?")
    } else if error.is_data() {
        format!("{message} (expected the CISA KEV catalog)")
    } else {
        message.to_owned()
    };
    ImportError {
        line: (error.line() > 0).then_some(error.line()),
        column: (error.column() > 0).then_some(error.column()),
        ..ImportError::new(origin, message)
    }
}

fn parse_kev_csv(bytes: &[u8], origin: &str) -> Result<KevCatalog, ImportError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(origin, &e, 0))?;
    let header_line = header.position().map_or(1, |p| p.line() as usize);
    let column = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (cve, name, added) = (column("cveID"), column("vulnerabilityName"), column("dateAdded"));
    let (due, ransomware) = (column("dueDate"), column("knownRansomwareCampaignUse"));
    let (Some(cve), Some(name), Some(added)) = (cve, name, added) else {
        let missing: Vec<_> = [("cveID", cve), ("vulnerabilityName", name), ("dateAdded", added)]
            .into_iter()
            .filter_map(|(label, at)| at.is_none().then_some(label))
            .collect();
        return Err(ImportError::at_line(
            origin,
            header_line,
            format!(
                "header lacks {}: expected CISA's KEV CSV header ({KEV_CSV_HEADER})",
                missing.join(", ")
            ),
        ));
    };

    let mut entries = KevEntries::default();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| csv_error(origin, &e, 0))? {
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |at: Option<usize>| at.and_then(|i| record.get(i)).unwrap_or_default().trim();
        let cve_text = field(Some(cve));
        let Some(cve) = cve_id(cve_text.as_bytes()) else {
            return Err(ImportError::at_line(
                origin,
                line,
                format!("cveID {cve_text:?} is not a CVE id (CVE-YYYY-NNNN)"),
            ));
        };
        let added_text = field(Some(added));
        let Some(date_added) = date(added_text) else {
            return Err(ImportError::at_line(
                origin,
                line,
                format!("dateAdded {added_text:?} of {cve} is not a date (YYYY-MM-DD)"),
            ));
        };
        let due_text = field(due);
        let due_date = match due_text {
            "" => None,
            text => Some(date(text).ok_or_else(|| {
                ImportError::at_line(
                    origin,
                    line,
                    format!("dueDate {text:?} of {cve} is not a date (YYYY-MM-DD)"),
                )
            })?),
        };
        entries.add(KevEntry {
            name: field(Some(name)).to_owned(),
            date_added,
            due_date,
            ransomware: is_known(field(ransomware)),
            cve,
        });
    }
    Ok(KevCatalog {
        version: None,
        entries: entries.entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEV_CSV: &[u8] = include_bytes!("../../../tests/fixtures/intel/kev-small.csv");
    const EPSS_CSV: &[u8] = include_bytes!("../../../tests/fixtures/intel/epss_scores-2026-11-26.csv");

    fn day(text: &str) -> NaiveDate {
        date(text).unwrap()
    }

    fn entry<'a>(catalog: &'a KevCatalog, cve: &str) -> &'a KevEntry {
        catalog.entries.iter().find(|e| e.cve == cve).unwrap()
    }

    fn kev_error(text: &str) -> String {
        parse_kev(text.as_bytes(), "kev.file").unwrap_err().to_string()
    }

    fn epss_error(text: &str) -> String {
        parse_epss(text.as_bytes(), "epss.csv").unwrap_err().to_string()
    }

    #[test]
    fn kev_csv_fixture_reads_every_row_with_quoted_commas() {
        let catalog = parse_kev(KEV_CSV, "kev-small.csv").unwrap();

        assert_eq!(catalog.entries.len(), 7);
        assert_eq!(catalog.version, None);
        let vmware = entry(&catalog, "CVE-2025-22226");
        assert_eq!(
            vmware.name,
            "VMware ESXi, Workstation, and Fusion Information Disclosure Vulnerability"
        );
        assert_eq!(vmware.date_added, day("2025-03-04"));
        assert_eq!(vmware.due_date, Some(day("2025-03-25")));
        let known: Vec<_> = catalog
            .entries
            .iter()
            .filter(|e| e.ransomware)
            .map(|e| e.cve.as_str())
            .collect();
        assert_eq!(known, ["CVE-2021-44228"]);
    }

    #[test]
    fn kev_csv_columns_are_found_by_name_not_position() {
        let csv = "knownRansomwareCampaignUse,dateAdded,cveID,vulnerabilityName\n\
                   known,2021-12-10,cve-2021-44228,Apache Log4j2 Remote Code Execution Vulnerability\n";

        let catalog = parse_kev(csv.as_bytes(), "reordered.csv").unwrap();

        assert_eq!(
            catalog.entries,
            [KevEntry {
                cve: "CVE-2021-44228".into(),
                name: "Apache Log4j2 Remote Code Execution Vulnerability".into(),
                date_added: day("2021-12-10"),
                due_date: None,
                ransomware: true,
            }]
        );
    }

    #[test]
    fn kev_json_with_bom_and_leading_whitespace_is_read_as_json() {
        let json = "\u{feff}\n  {\"catalogVersion\": \"2025.08.25\", \"count\": 1, \"vulnerabilities\": [{\
                    \"cveID\": \"CVE-2024-3400\", \"vulnerabilityName\": \"PAN-OS Command Injection\",\
                    \"dateAdded\": \"2024-04-12\", \"dueDate\": \"2024-04-19\", \"knownRansomwareCampaignUse\": \"KNOWN\",\
                    \"cwes\": [\"CWE-77\"]}]}";

        let catalog = parse_kev(json.as_bytes(), "kev.json").unwrap();

        assert_eq!(catalog.version.as_deref(), Some("2025.08.25"));
        let only = entry(&catalog, "CVE-2024-3400");
        assert!(only.ransomware);
        assert_eq!(only.due_date, Some(day("2024-04-19")));
    }

    #[test]
    fn kev_duplicates_are_merged_keeping_the_earliest_date_added() {
        let csv = "cveID,vulnerabilityName,dateAdded,knownRansomwareCampaignUse\n\
                   CVE-2023-4966,Citrix Bleed,2023-10-18,Unknown\n\
                   CVE-2024-3400,PAN-OS,2024-04-12,Unknown\n\
                   cve-2023-4966,Citrix Bleed (re-listed),2023-10-10,Known\n";

        let catalog = parse_kev(csv.as_bytes(), "dupes.csv").unwrap();

        assert_eq!(catalog.entries.len(), 2);
        assert_eq!(catalog.entries[0].cve, "CVE-2023-4966", "file order is kept");
        assert_eq!(catalog.entries[0].date_added, day("2023-10-10"));
        assert!(catalog.entries[0].ransomware);
    }

    #[test]
    fn kev_csv_without_the_cve_column_names_the_missing_column_and_line() {
        let message = kev_error("vendorProject,product,vulnerabilityName,dateAdded\nApache,Log4j2,RCE,2021-12-10\n");

        assert!(message.starts_with("kev.file:1: header lacks cveID"), "{message}");
        assert!(message.contains(KEV_CSV_HEADER), "{message}");
    }

    #[test]
    fn kev_csv_bad_cve_id_names_its_line_and_field() {
        let csv = "cveID,vulnerabilityName,dateAdded\n\
                   CVE-2021-44228,Log4Shell,2021-12-10\n\
                   \"CVE-21-1\",Bad,2021-12-10\n";

        let message = kev_error(csv);

        assert!(
            message.starts_with("kev.file:3: cveID \"CVE-21-1\" is not a CVE id"),
            "{message}"
        );
    }

    #[test]
    fn kev_csv_multi_line_quoted_field_keeps_the_next_records_line() {
        let csv = "cveID,vulnerabilityName,dateAdded\n\
                   CVE-2021-44228,\"Log4Shell,\nover two lines\",2021-12-10\n\
                   CVE-2021-45046,Log4j2,12/14/2021\n";

        let message = kev_error(csv);

        assert!(
            message.starts_with("kev.file:4: dateAdded \"12/14/2021\" of CVE-2021-45046"),
            "{message}"
        );
    }

    #[test]
    fn kev_json_bad_cve_id_names_its_line() {
        let json = "{\"vulnerabilities\": [\n\
                    {\"cveID\": \"CVE-2021-44228\", \"vulnerabilityName\": \"a\", \"dateAdded\": \"2021-12-10\"},\n\
                    {\"cveID\": \"GHSA-jfh8-c2jp-5v3q\", \"vulnerabilityName\": \"b\", \"dateAdded\": \"2021-12-10\"}\n]}";

        let message = kev_error(json);

        assert!(message.starts_with("kev.file:3:"), "{message}");
        assert!(
            message.contains("cveID \"GHSA-jfh8-c2jp-5v3q\" is not a CVE id"),
            "{message}"
        );
    }

    #[test]
    fn truncated_kev_json_says_where_it_stops() {
        let json = "{\"catalogVersion\": \"2025.08.25\",\n\"vulnerabilities\": [\n\
                    {\"cveID\": \"CVE-2021-44228\", \"vulnerabilityName\": \"a\", \"dateAdded\": \"2021-12-10\"},\n\
                    {\"cveID\": \"CVE-2021-4";

        let message = kev_error(json);

        assert!(message.starts_with("kev.file:4:"), "{message}");
        assert!(message.contains("truncated JSON"), "{message}");
    }

    #[test]
    fn empty_kev_file_is_refused_at_line_one() {
        assert_eq!(
            kev_error(" \n"),
            "kev.file:1: empty file: expected the CISA KEV catalog (JSON, or CSV with its header)"
        );
    }

    #[test]
    fn kev_catalog_without_entries_is_refused() {
        let message = kev_error("{\"catalogVersion\": \"2025.08.25\", \"vulnerabilities\": []}");

        assert_eq!(message, "kev.file: no KEV entries: is this the KEV catalog?");
        assert!(kev_error(&format!("{KEV_CSV_HEADER}\n")).contains("no KEV entries"));
    }

    #[test]
    fn epss_fixture_reads_the_model_version_score_date_and_every_row() {
        let file = parse_epss(EPSS_CSV, "epss_scores-2026-11-26.csv").unwrap();

        assert_eq!(file.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(file.score_date, Some(day("2026-11-26")));
        assert_eq!(file.scores.len(), 21);
        let log4shell = file.scores.iter().find(|s| s.cve == "CVE-2021-44228").unwrap();
        assert_eq!((log4shell.probability, log4shell.percentile), (0.94358, 0.99955));
    }

    #[test]
    fn epss_without_the_comment_line_and_with_crlf_is_read() {
        let file = parse_epss(b"cve,epss,percentile\r\ncve-2024-6345,0.04814,0.8918\r\n", "epss.csv").unwrap();

        assert_eq!((file.model_version, file.score_date), (None, None));
        assert_eq!(
            file.scores,
            [EpssScore {
                cve: "CVE-2024-6345".into(),
                probability: 0.04814,
                percentile: 0.8918,
            }]
        );
    }

    #[test]
    fn epss_unknown_header_lists_the_expected_one() {
        let message =
            epss_error("#model_version:v2025.03.14,score_date:2026-11-26T00:00:00Z\ncve,score\nCVE-2021-44228,0.9\n");

        assert_eq!(
            message,
            "epss.csv:2: unexpected header \"cve,score\": expected \"cve,epss,percentile\" (FIRST's daily EPSS CSV)"
        );
    }

    #[test]
    fn epss_probability_above_one_names_its_line() {
        let message = epss_error(
            "#model_version:v2025.03.14,score_date:2026-11-26T00:00:00Z\ncve,epss,percentile\n\
             CVE-2021-44228,0.94358,0.99955\nCVE-2021-45046,1.5,0.99913\n",
        );

        assert_eq!(message, "epss.csv:4: epss \"1.5\" is not a number in 0..=1");
    }

    #[test]
    fn epss_bad_percentile_and_bad_cve_name_their_lines() {
        let message = epss_error("cve,epss,percentile\nCVE-2021-44228,0.9,NaN\n");
        assert_eq!(message, "epss.csv:2: percentile \"NaN\" is not a number in 0..=1");

        let message = epss_error("cve,epss,percentile\nCVE-2021-44228,0.9,0.9\nCVE-2021-123,0.1,0.1\n");
        assert_eq!(
            message,
            "epss.csv:3: cve \"CVE-2021-123\" is not a CVE id (CVE-YYYY-NNNN)"
        );
    }

    #[test]
    fn epss_row_with_a_missing_field_names_its_line() {
        let message = epss_error("#model_version:v1,score_date:2026-11-26\ncve,epss,percentile\nCVE-2021-44228,0.9\n");

        assert_eq!(message, "epss.csv:3: 2 fields where the header has 3");
    }

    #[test]
    fn epss_bad_score_date_is_refused_at_line_one() {
        let message = epss_error("#model_version:v2025.03.14,score_date:yesterday\ncve,epss,percentile\n");

        assert!(message.starts_with("epss.csv:1: score_date \"yesterday\""), "{message}");
    }

    #[test]
    fn empty_epss_file_or_one_without_rows_is_refused() {
        assert!(epss_error("").starts_with("epss.csv:1: empty file"));
        assert!(epss_error("\u{feff}").starts_with("epss.csv:1: empty file"));
        assert_eq!(
            epss_error("#model_version:v2025.03.14,score_date:2026-11-26T00:00:00Z\ncve,epss,percentile\n"),
            "epss.csv:2: no EPSS scores after the header: is this FIRST's daily EPSS file?"
        );
    }

    #[test]
    fn cve_ids_are_upper_cased_and_checked() {
        assert_eq!(cve_id(b" cve-2021-44228 ").as_deref(), Some("CVE-2021-44228"));
        assert_eq!(cve_id(b"CVE-2024-1234567").as_deref(), Some("CVE-2024-1234567"));
        for bad in [
            "CVE-2021-123",
            "CVE-21-12345",
            "CVE-2021_44228",
            "CVE-2021-4422x",
            "GHSA-xxxx",
            "",
        ] {
            assert_eq!(cve_id(bad.as_bytes()), None, "{bad}");
        }
    }
}
