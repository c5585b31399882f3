//! A contact's columns by name (`Contact::fields`): a short list kept in name order, instead of
//! a `serde_json::Map`. A contact list has a handful of columns, and an import makes millions of
//! rows: here a row costs one allocation for the list (column names of up to 24 bytes live
//! inline), where a map cost one per column name and one per tree node, and a lookup is a scan
//! of a few short names.

use std::fmt;

use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Names and values, sorted by name, each name once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(CompactString, Value)>);

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Fields {
        Fields(Vec::with_capacity(n))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        // A scan of a few short names beats a binary search; a wide file gets the search.
        if self.0.len() <= 8 {
            return self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        }
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|at| &self.0[at].1)
    }

    /// Sets `name`, keeping name order; gives back the value it replaces.
    pub fn insert(&mut self, name: impl Into<CompactString>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name.as_str())) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (name, value));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Names and values in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The fields as a JSON object (templates render with one).
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Fields {
        // A map iterates in name order already (serde_json without `preserve_order`); insert
        // keeps it so either way.
        let mut fields = Fields::with_capacity(map.len());
        for (name, value) in map {
            fields.insert(name, value);
        }
        fields
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;

    /// `Value::Null` for a name not there, as a JSON object's index gives.
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of column names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::with_capacity(access.size_hint().unwrap_or(0).min(256));
                while let Some((name, value)) = access.next_entry::<CompactString, Value>()? {
                    fields.insert(name, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_stay_in_order_and_once() {
        let mut fields = Fields::new();
        assert_eq!(fields.insert("name", json!("Ada")), None);
        assert_eq!(fields.insert("age", json!(36)), None);
        assert_eq!(fields.insert("zone", json!("Europe/Paris")), None);
        assert_eq!(fields.insert("name", json!("Grace")), Some(json!("Ada")), "a second insert replaces");
        let names: Vec<&str> = fields.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["age", "name", "zone"]);
        assert_eq!(fields.get("name"), Some(&json!("Grace")));
        assert_eq!(fields.get("nam"), None);
        assert_eq!(fields["missing"], Value::Null);
        assert_eq!(fields.len(), 3);
        // Wide enough for the binary search.
        let mut wide = Fields::new();
        for i in (0..40).rev() {
            wide.insert(format!("column {i:02}"), json!(i));
        }
        assert!((0..40).all(|i| wide.get(&format!("column {i:02}")) == Some(&json!(i))));
        assert_eq!(wide.get("column 40"), None);
        assert_eq!(wide.get(""), None);
    }

    #[test]
    fn same_as_the_json_object_it_stands_for() {
        let object = json!({"b": 1, "a": "x", "a long column name over 24 bytes": true, "": null});
        let Value::Object(map) = object.clone() else { unreachable!() };
        let fields = Fields::from(map.clone());
        assert_eq!(fields.to_map(), map);
        assert_eq!(serde_json::to_value(&fields).unwrap(), object);
        let back: Fields = serde_json::from_value(object).unwrap();
        assert_eq!(back, fields);
        assert!(serde_json::from_value::<Fields>(json!([1, 2])).is_err());
    }
}
