//! Vehicle identification numbers (VINs).
//!
//! A VIN has 17 characters drawn from `A`-`Z` and `0`-`9`, never `I`, `O` or
//! `Q`. North-American VINs (first character `1`..=`5`) carry a check digit in
//! position 9 as defined by 49 CFR 565.15; VINs from other regions are not
//! check-digit validated, because the check digit is not mandatory there.
//!
//! Positions are 1-based throughout, as in the regulation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of characters in a VIN.
const VIN_LEN: usize = 17;

/// Index (0-based) of the check digit, position 9.
const CHECK_INDEX: usize = 8;

/// Index (0-based) of the model-year code, position 10.
const YEAR_INDEX: usize = 9;

/// Index (0-based) of the plant code, position 11.
const PLANT_INDEX: usize = 10;

/// Position weights of 49 CFR 565.15, position 1 to 17.
const WEIGHTS: [u32; VIN_LEN] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// Position-10 model-year codes, in cycle order starting with 1980 (and 2010).
const YEAR_CODES: &[u8; 30] = b"ABCDEFGHJKLMNPRSTVWXY123456789";

/// First model year of the supported range.
const FIRST_MODEL_YEAR: u16 = 1980;

/// Last model year of the supported range (two full 30-year cycles).
const LAST_MODEL_YEAR: u16 = 2039;

/// Length of the model-year cycle.
const YEAR_CYCLE: u16 = 30;

/// Why a string is not a VIN, or why VIN parts cannot be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    /// The (trimmed) input does not have 17 characters; carries the count.
    #[error("a VIN has 17 characters, this one has {0}")]
    Length(usize),
    /// A character outside the VIN alphabet; `position` is 1-based.
    #[error("character {position} is '{ch}': a VIN uses only A-Z and 0-9 and never I, O or Q")]
    BadChar {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character, as given.
        ch: char,
    },
    /// A North-American VIN whose position 9 does not match the computed check digit.
    #[error(
        "check digit (position 9) is '{found}' but the VIN's other characters give '{expected}' (49 CFR 565.15)"
    )]
    CheckDigit {
        /// The character found in position 9.
        found: char,
        /// The check digit computed from the other positions.
        expected: char,
    },
    /// A part given to [`Vin::assemble`] is wrong; the message says which and why.
    #[error("{0}")]
    Part(String),
}

/// A validated 17-character VIN (uppercase).
///
/// Serializes and deserializes as a plain string; deserializing validates
/// exactly like [`Vin::parse`]. Ordering is the lexicographic order of the
/// string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vin([u8; 17]);

impl Vin {
    /// Parses and validates a VIN.
    ///
    /// Surrounding whitespace is trimmed and lowercase letters are accepted
    /// (and stored uppercase). For North-American VINs (first character
    /// `1`..=`5`) the check digit in position 9 must be correct; other VINs
    /// are not check-digit validated.
    ///
    /// # Errors
    ///
    /// [`VinError::Length`] if the trimmed input does not have 17 characters,
    /// [`VinError::BadChar`] for the first character outside the VIN alphabet,
    /// [`VinError::CheckDigit`] for a North-American VIN with a wrong check digit.
    pub fn parse(s: &str) -> Result<Vin, VinError> {
        let s = s.trim();
        let len = s.chars().count();
        if len != VIN_LEN {
            return Err(VinError::Length(len));
        }
        let mut bytes = [0u8; VIN_LEN];
        for (i, (slot, ch)) in bytes.iter_mut().zip(s.chars()).enumerate() {
            *slot = vin_byte(ch).ok_or(VinError::BadChar {
                position: i + 1,
                ch,
            })?;
        }
        let vin = Vin(bytes);
        if vin.is_north_american() {
            let expected = check_digit(&vin.0);
            let found = vin.check_char();
            if found != expected {
                return Err(VinError::CheckDigit { found, expected });
            }
        }
        Ok(vin)
    }

    /// Builds a VIN from its parts.
    ///
    /// `wmi` (3 characters), `vds` (5), `plant_code` and `serial` (6) must use
    /// the VIN alphabet; lowercase letters are accepted and uppercased.
    /// `model_year` must lie in 1980..=2039 and becomes the position-10 code.
    /// Position 9 is the computed check digit when the WMI is North-American
    /// (first character `1`..=`5`) and `'0'` otherwise.
    ///
    /// # Errors
    ///
    /// [`VinError::Part`] naming the first part that has the wrong length, a
    /// character outside the VIN alphabet, or a model year out of range.
    pub fn assemble(
        wmi: &str,
        vds: &str,
        model_year: u16,
        plant_code: char,
        serial: &str,
    ) -> Result<Vin, VinError> {
        let wmi = part_bytes::<3>("WMI (positions 1-3)", wmi)?;
        let vds = part_bytes::<5>("VDS (positions 4-8)", vds)?;
        let year_code = model_year_code(model_year).ok_or_else(|| {
            VinError::Part(format!(
                "model year {model_year} is outside {FIRST_MODEL_YEAR}..={LAST_MODEL_YEAR}"
            ))
        })?;
        let plant = vin_byte(plant_code).ok_or_else(|| {
            VinError::Part(format!(
                "plant code (position 11) is '{plant_code}': a VIN uses only A-Z and 0-9 and never I, O or Q"
            ))
        })?;
        let serial = part_bytes::<6>("serial (positions 12-17)", serial)?;

        let mut bytes = [0u8; VIN_LEN];
        bytes[..3].copy_from_slice(&wmi);
        bytes[3..CHECK_INDEX].copy_from_slice(&vds);
        bytes[CHECK_INDEX] = b'0';
        // Model-year codes are ASCII by construction.
        bytes[YEAR_INDEX] = year_code as u8;
        bytes[PLANT_INDEX] = plant;
        bytes[11..].copy_from_slice(&serial);

        let mut vin = Vin(bytes);
        if vin.is_north_american() {
            // The check character is always '0'..='9' or 'X', hence ASCII.
            vin.0[CHECK_INDEX] = check_digit(&vin.0) as u8;
        }
        Ok(vin)
    }

    /// The VIN as a 17-character uppercase string.
    pub fn as_str(&self) -> &str {
        // Every byte was validated to be an ASCII letter or digit.
        std::str::from_utf8(&self.0).expect("a Vin holds only ASCII characters")
    }

    /// World manufacturer identifier, positions 1-3.
    pub fn wmi(&self) -> &str {
        &self.as_str()[..3]
    }

    /// Vehicle descriptor section, positions 4-8.
    pub fn vds(&self) -> &str {
        &self.as_str()[3..CHECK_INDEX]
    }

    /// Check character, position 9.
    pub fn check_char(&self) -> char {
        char::from(self.0[CHECK_INDEX])
    }

    /// Model-year code, position 10.
    pub fn model_year_code(&self) -> char {
        char::from(self.0[YEAR_INDEX])
    }

    /// Plant code, position 11.
    pub fn plant_code(&self) -> char {
        char::from(self.0[PLANT_INDEX])
    }

    /// Serial (production sequence) number, positions 12-17.
    pub fn serial(&self) -> &str {
        &self.as_str()[11..]
    }

    /// Whether the VIN is North-American, i.e. its first character is `1`..=`5`.
    pub fn is_north_american(&self) -> bool {
        (b'1'..=b'5').contains(&self.0[0])
    }

    /// Candidate model years for position 10, ascending.
    ///
    /// The code repeats every 30 years (`A` = 1980/2010, ..., `Y` =
    /// 2000/2030, `1` = 2001/2031, ..., `9` = 2009/2039), so both candidates
    /// of the cycle are returned, e.g. `'T'` gives `[1996, 2026]`.
    ///
    /// Position 10 is a model-year code only by North-American convention;
    /// for a character that is not a model-year code (`0`, `U` or `Z`, which
    /// [`Vin::parse`] accepts since other regions may use them) this returns
    /// `[0, 0]`.
    pub fn model_years(&self) -> [u16; 2] {
        YEAR_CODES
            .iter()
            .position(|&c| c == self.0[YEAR_INDEX])
            .and_then(|offset| u16::try_from(offset).ok())
            .map_or([0, 0], |offset| {
                let first = FIRST_MODEL_YEAR + offset;
                [first, first + YEAR_CYCLE]
            })
    }
}

/// The position-10 code for a model year in 1980..=2039, `None` outside that range.
pub fn model_year_code(year: u16) -> Option<char> {
    if !(FIRST_MODEL_YEAR..=LAST_MODEL_YEAR).contains(&year) {
        return None;
    }
    let offset = usize::from((year - FIRST_MODEL_YEAR) % YEAR_CYCLE);
    Some(char::from(YEAR_CODES[offset]))
}

/// Computes the North-American check character (49 CFR 565.15) of 17 VIN
/// characters; position 9 itself is ignored (its weight is 0).
///
/// Letters are transliterated to digits, each value is multiplied by its
/// position weight and the sum is taken modulo 11; a remainder of 10 is
/// written `X`. The bytes are expected to be uppercase VIN characters; any
/// other byte counts as 0, which makes the result meaningless.
pub fn check_digit(vin17: &[u8; 17]) -> char {
    let sum: u32 = vin17
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, weight)| transliterate(b) * weight)
        .sum();
    match sum % 11 {
        10 => 'X',
        // The remainder is below 10, so it is a decimal digit.
        r => char::from_digit(r, 10).unwrap_or('0'),
    }
}

/// Formats a serial number (positions 12-17) as 6 zero-padded digits.
///
/// Callers must keep `n` below 1_000_000: larger numbers produce more than
/// 6 digits, which [`Vin::assemble`] then rejects as a serial of the wrong
/// length.
pub fn serial_from_number(n: u32) -> String {
    format!("{n:06}")
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vin({:?})", self.as_str())
    }
}

impl FromStr for Vin {
    type Err = VinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Vin::parse(s)
    }
}

impl Serialize for Vin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Vin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VinVisitor;

        impl serde::de::Visitor<'_> for VinVisitor {
            type Value = Vin;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 17-character VIN string")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vin, E> {
                Vin::parse(s).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(VinVisitor)
    }
}

/// The uppercase VIN byte for `ch`, or `None` if `ch` is not in the VIN
/// alphabet (lowercase letters are accepted).
fn vin_byte(ch: char) -> Option<u8> {
    let b = u8::try_from(ch.to_ascii_uppercase()).ok()?;
    let allowed =
        (b.is_ascii_uppercase() && !matches!(b, b'I' | b'O' | b'Q')) || b.is_ascii_digit();
    allowed.then_some(b)
}

/// Validates one part for [`Vin::assemble`]: exactly `N` VIN characters.
fn part_bytes<const N: usize>(name: &str, part: &str) -> Result<[u8; N], VinError> {
    let len = part.chars().count();
    if len != N {
        return Err(VinError::Part(format!(
            "{name} must have {N} characters, '{part}' has {len}"
        )));
    }
    let mut bytes = [0u8; N];
    for (i, (slot, ch)) in bytes.iter_mut().zip(part.chars()).enumerate() {
        *slot = vin_byte(ch).ok_or_else(|| {
            VinError::Part(format!(
                "{name}: character {} is '{ch}': a VIN uses only A-Z and 0-9 and never I, O or Q",
                i + 1
            ))
        })?;
    }
    Ok(bytes)
}

/// Numeric value of a VIN character for the check digit (49 CFR 565.15).
fn transliterate(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The VIN alphabet: A-Z without I, O, Q, then 0-9.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";

    #[test]
    fn accepts_valid_north_american_vins() {
        for s in ["1M8GDM9AXKP042788", "11111111111111111"] {
            let vin = Vin::parse(s).unwrap();
            assert_eq!(vin.as_str(), s);
            assert!(vin.is_north_american());
        }
    }

    #[test]
    fn rejects_bad_check_digit() {
        assert_eq!(
            Vin::parse("1M8GDM9AYKP042788"),
            Err(VinError::CheckDigit {
                found: 'Y',
                expected: 'X'
            })
        );
    }

    #[test]
    fn check_digit_of_known_vins() {
        assert_eq!(check_digit(b"1M8GDM9AXKP042788"), 'X');
        assert_eq!(check_digit(b"11111111111111111"), '1');
        // Position 9 does not influence the result.
        assert_eq!(check_digit(b"1M8GDM9A0KP042788"), 'X');
    }

    #[test]
    fn length_errors() {
        assert_eq!(Vin::parse(""), Err(VinError::Length(0)));
        assert_eq!(Vin::parse("1M8GDM9AXKP04278"), Err(VinError::Length(16)));
        assert_eq!(Vin::parse("1M8GDM9AXKP0427888"), Err(VinError::Length(18)));
        // Characters are counted, not bytes.
        assert_eq!(Vin::parse("ÄM8GDM9AXKP04278"), Err(VinError::Length(16)));
    }

    #[test]
    fn rejects_i_o_q_with_position() {
        for (s, position, ch) in [
            ("IM8GDM9AXKP042788", 1, 'I'),
            ("1M8GDM9AXKP0O2788", 13, 'O'),
            ("1M8GDM9AXKP04278Q", 17, 'Q'),
            ("1M8GDM9AXKP04278q", 17, 'q'),
            ("1M8GD-9AXKP042788", 6, '-'),
            ("1M8GDM9AXKPÄ42788", 12, 'Ä'),
        ] {
            assert_eq!(
                Vin::parse(s),
                Err(VinError::BadChar { position, ch }),
                "{s}"
            );
        }
    }

    #[test]
    fn accepts_lowercase_and_surrounding_whitespace() {
        let vin = Vin::parse("  1m8gdm9axkp042788\n").unwrap();
        assert_eq!(vin.as_str(), "1M8GDM9AXKP042788");
        assert_eq!(vin, "1M8GDM9AXKP042788".parse().unwrap());
    }

    #[test]
    fn accepts_european_vin_without_check_digit() {
        let vin = Vin::parse("WVWZZZ1JZXW000001").unwrap();
        assert!(!vin.is_north_american());
        assert_eq!(vin.wmi(), "WVW");
    }

    #[test]
    fn accessors() {
        let vin = Vin::parse("1M8GDM9AXKP042788").unwrap();
        assert_eq!(vin.wmi(), "1M8");
        assert_eq!(vin.vds(), "GDM9A");
        assert_eq!(vin.check_char(), 'X');
        assert_eq!(vin.model_year_code(), 'K');
        assert_eq!(vin.plant_code(), 'P');
        assert_eq!(vin.serial(), "042788");
        assert_eq!(vin.model_years(), [1989, 2019]);
        assert_eq!(vin.to_string(), "1M8GDM9AXKP042788");
        assert_eq!(format!("{vin:?}"), "Vin(\"1M8GDM9AXKP042788\")");
    }

    #[test]
    fn model_years_for_t_and_1() {
        let t = Vin::assemble("WVW", "ZZZ1J", 1996, 'W', "000001").unwrap();
        assert_eq!(t.model_year_code(), 'T');
        assert_eq!(t.model_years(), [1996, 2026]);
        let one = Vin::parse("11111111111111111").unwrap();
        assert_eq!(one.model_year_code(), '1');
        assert_eq!(one.model_years(), [2001, 2031]);
    }

    #[test]
    fn model_years_for_non_year_code() {
        let vin = Vin::parse("WVWZZZ1JZUW000001").unwrap();
        assert_eq!(vin.model_years(), [0, 0]);
    }

    #[test]
    fn model_year_code_table() {
        assert_eq!(model_year_code(1979), None);
        assert_eq!(model_year_code(1980), Some('A'));
        assert_eq!(model_year_code(1996), Some('T'));
        assert_eq!(model_year_code(2000), Some('Y'));
        assert_eq!(model_year_code(2001), Some('1'));
        assert_eq!(model_year_code(2009), Some('9'));
        assert_eq!(model_year_code(2010), Some('A'));
        assert_eq!(model_year_code(2026), Some('T'));
        assert_eq!(model_year_code(2039), Some('9'));
        assert_eq!(model_year_code(2040), None);
    }

    #[test]
    fn assemble_round_trip() {
        let vin = Vin::assemble("1M8", "GDM9A", 1989, 'P', &serial_from_number(42_788)).unwrap();
        assert_eq!(vin.as_str(), "1M8GDM9AXKP042788");
        assert_eq!(Vin::parse(vin.as_str()), Ok(vin));

        let vin = Vin::assemble("5td", "dk3dc", 2026, 'c', "123456").unwrap();
        assert_eq!(vin.wmi(), "5TD");
        assert_eq!(vin.model_years(), [1996, 2026]);
        assert_eq!(Vin::parse(vin.as_str()), Ok(vin));
    }

    #[test]
    fn assemble_non_north_american_puts_zero_in_position_9() {
        let vin = Vin::assemble("WVW", "ZZZ1J", 1999, 'W', "000001").unwrap();
        assert_eq!(vin.as_str(), "WVWZZZ1J0XW000001");
        assert_eq!(Vin::parse(vin.as_str()), Ok(vin));
    }

    #[test]
    fn assemble_rejects_bad_parts() {
        let cases = [
            Vin::assemble("4T", "BF1FK", 2020, 'U', "000001"),
            Vin::assemble("4T1", "BF1F", 2020, 'U', "000001"),
            Vin::assemble("4T1", "BF1FI", 2020, 'U', "000001"),
            Vin::assemble("4T1", "BF1FK", 1979, 'U', "000001"),
            Vin::assemble("4T1", "BF1FK", 2040, 'U', "000001"),
            Vin::assemble("4T1", "BF1FK", 2020, 'O', "000001"),
            Vin::assemble("4T1", "BF1FK", 2020, 'U', "00001"),
            Vin::assemble("4T1", "BF1FK", 2020, 'U', &serial_from_number(1_000_000)),
            Vin::assemble("4T1", "BF1FK", 2020, 'U', "00000Q"),
        ];
        for result in cases {
            assert!(matches!(result, Err(VinError::Part(_))), "{result:?}");
        }
        assert_eq!(
            Vin::assemble("4T1", "BF1FI", 2020, 'U', "000001"),
            Err(VinError::Part(
                "VDS (positions 4-8): character 5 is 'I': a VIN uses only A-Z and 0-9 and never I, O or Q"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn serial_from_number_pads_to_six_digits() {
        assert_eq!(serial_from_number(0), "000000");
        assert_eq!(serial_from_number(42), "000042");
        assert_eq!(serial_from_number(999_999), "999999");
    }

    #[test]
    fn serde_as_plain_string() {
        let vin = Vin::parse("1M8GDM9AXKP042788").unwrap();
        let json = serde_json::to_string(&vin).unwrap();
        assert_eq!(json, "\"1M8GDM9AXKP042788\"");
        assert_eq!(serde_json::from_str::<Vin>(&json).unwrap(), vin);
        assert_eq!(
            serde_json::from_str::<Vin>("\"1m8gdm9axkp042788\"").unwrap(),
            vin
        );

        let err = serde_json::from_str::<Vin>("\"1M8GDM9AYKP042788\"").unwrap_err();
        assert!(
            err.to_string().contains("check digit (position 9) is 'Y'"),
            "{err}"
        );
        assert!(serde_json::from_str::<Vin>("17").is_err());
    }

    fn vin_chars(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(ALPHABET), len)
            .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
    }

    fn na_wmi() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec!["4T1", "5TD", "5TF", "1HG", "2T3"])
                .prop_map(String::from),
            (proptest::sample::select(b"12345".as_slice()), vin_chars(2))
                .prop_map(|(first, rest)| format!("{}{rest}", char::from(first))),
        ]
    }

    proptest! {
        #[test]
        fn assembled_na_vins_parse_and_check_digit_is_unique(
            wmi in na_wmi(),
            vds in vin_chars(5),
            year in FIRST_MODEL_YEAR..=LAST_MODEL_YEAR,
            plant in proptest::sample::select(ALPHABET).prop_map(char::from),
            serial in vin_chars(6),
        ) {
            let vin = Vin::assemble(&wmi, &vds, year, plant, &serial).unwrap();
            prop_assert!(vin.is_north_american());
            prop_assert_eq!(Vin::parse(vin.as_str()), Ok(vin));
            prop_assert_eq!(vin.wmi(), wmi.as_str());
            prop_assert_eq!(vin.vds(), vds.as_str());
            prop_assert_eq!(vin.plant_code(), plant);
            prop_assert_eq!(vin.serial(), serial.as_str());
            prop_assert!(vin.model_years().contains(&year));

            let expected = vin.check_char();
            for &other in ALPHABET.iter().filter(|&&c| char::from(c) != expected) {
                let mut bytes = vin.0;
                bytes[CHECK_INDEX] = other;
                let s = std::str::from_utf8(&bytes).unwrap();
                prop_assert_eq!(
                    Vin::parse(s),
                    Err(VinError::CheckDigit { found: char::from(other), expected })
                );
            }
        }
    }
}
