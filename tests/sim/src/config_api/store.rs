//! The object store: every object by uuid, plus the indexes that keep reads cheap with tens of
//! thousands of objects (fq_name per type, children per parent, referrers per target).
//!
//! Only this module touches the indexes; callers change refs through [`Store::set_refs`] so
//! back-references never drift from the references they mirror.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::ipam::Ipam;

/// A stored reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    pub to: Vec<String>,
    pub uuid: String,
    pub attr: Value,
}

/// A stored object.
#[derive(Debug, Clone)]
pub struct Obj {
    /// Resource type with dashes (`virtual-network`).
    pub ty: String,
    pub uuid: String,
    pub fq_name: Vec<String>,
    /// (parent type, parent uuid)
    pub parent: Option<(String, String)>,
    /// Properties, including `id_perms`, `perms2` and `display_name`.
    pub props: Map<String, Value>,
    /// `<type>_refs` field -> references, in request order (rendered in uuid order).
    pub refs: BTreeMap<String, Vec<Ref>>,
}

/// `virtual_network_refs` -> `virtual-network`.
pub fn ref_target(field: &str) -> Option<String> {
    field
        .strip_suffix("_refs")
        .filter(|t| !t.is_empty() && !t.ends_with("_back"))
        .map(|t| t.replace('_', "-"))
}

/// `virtual-network` -> `virtual_network_refs`.
pub fn ref_field(ty: &str) -> String {
    format!("{}_refs", ty.replace('-', "_"))
}

/// `virtual-network` -> `virtual_network_back_refs`.
pub fn back_ref_field(ty: &str) -> String {
    format!("{}_back_refs", ty.replace('-', "_"))
}

/// `virtual-network` -> `virtual_networks`.
pub fn children_field(ty: &str) -> String {
    format!("{}s", ty.replace('-', "_"))
}

/// Which fields a rendering includes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Select<'a> {
    pub all_props: bool,
    pub all_refs: bool,
    pub all_back_refs: bool,
    pub all_children: bool,
    /// Individually requested fields (properties, refs, back-refs or children).
    pub fields: Option<&'a HashSet<String>>,
    /// uuid/fq_name/href only (list without detail) instead of the full identity block.
    pub brief: bool,
}

impl Select<'_> {
    fn want(&self, all: bool, name: &str) -> bool {
        all || self.fields.is_some_and(|f| f.contains(name))
    }
}

#[derive(Debug, Default)]
pub struct Store {
    objs: HashMap<String, Obj>,
    by_type: HashMap<String, BTreeMap<Vec<String>, String>>,
    /// parent uuid -> child type -> child fq_name -> child uuid
    children: HashMap<String, BTreeMap<String, BTreeMap<Vec<String>, String>>>,
    /// target uuid -> referrer type -> referrer uuid -> attr
    backrefs: HashMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    /// (referrer, target) references that do not block deleting the target
    relaxed: HashSet<(String, String)>,
    pub ipam: Ipam,
    next_vn_id: i64,
    next_sg_id: i64,
}

impl Store {
    pub fn new() -> Self {
        Store {
            next_vn_id: 1,
            next_sg_id: 8_000_001,
            ..Default::default()
        }
    }

    pub fn get(&self, uuid: &str) -> Option<&Obj> {
        self.objs.get(uuid)
    }

    /// The object if it exists and has type `ty`.
    pub fn get_typed(&self, ty: &str, uuid: &str) -> Option<&Obj> {
        self.objs.get(uuid).filter(|o| o.ty == ty)
    }

    pub fn find(&self, ty: &str, fq: &[String]) -> Option<&str> {
        self.by_type
            .get(ty)
            .and_then(|m| m.get(fq))
            .map(String::as_str)
    }

    pub fn contains(&self, uuid: &str) -> bool {
        self.objs.contains_key(uuid)
    }

    pub fn count_type(&self, ty: &str) -> usize {
        self.by_type.get(ty).map_or(0, BTreeMap::len)
    }

    /// Uuids of all objects of a type, in fq_name order.
    pub fn uuids_of_type(&self, ty: &str) -> Vec<String> {
        self.by_type
            .get(ty)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Uuids of the children of `parent` that have type `ty`, in fq_name order.
    pub fn children_of_type(&self, parent: &str, ty: &str) -> Vec<String> {
        self.children
            .get(parent)
            .and_then(|m| m.get(ty))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Uuids of the objects of type `ty` that refer to `target`.
    pub fn referrers_of_type(&self, target: &str, ty: &str) -> Vec<String> {
        self.backrefs
            .get(target)
            .and_then(|m| m.get(ty))
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// All children as (type, uuid).
    pub fn children(&self, parent: &str) -> Vec<(String, String)> {
        let Some(m) = self.children.get(parent) else {
            return Vec::new();
        };
        m.iter()
            .flat_map(|(t, c)| c.values().map(move |u| (t.clone(), u.clone())))
            .collect()
    }

    /// All referrers as (type, uuid).
    pub fn referrers(&self, target: &str) -> Vec<(String, String)> {
        let Some(m) = self.backrefs.get(target) else {
            return Vec::new();
        };
        m.iter()
            .flat_map(|(t, r)| r.keys().map(move |u| (t.clone(), u.clone())))
            .collect()
    }

    pub fn alloc_vn_id(&mut self) -> i64 {
        let id = self.next_vn_id;
        self.next_vn_id += 1;
        id
    }

    pub fn alloc_sg_id(&mut self) -> i64 {
        let id = self.next_sg_id;
        self.next_sg_id += 1;
        id
    }

    /// Add a new object (the caller has checked it does not exist) and index it.
    pub fn insert(&mut self, obj: Obj) {
        self.by_type
            .entry(obj.ty.clone())
            .or_default()
            .insert(obj.fq_name.clone(), obj.uuid.clone());
        if let Some((_, p)) = &obj.parent {
            self.children
                .entry(p.clone())
                .or_default()
                .entry(obj.ty.clone())
                .or_default()
                .insert(obj.fq_name.clone(), obj.uuid.clone());
        }
        for refs in obj.refs.values() {
            for r in refs {
                self.add_backref(&r.uuid, &obj.ty, &obj.uuid, &r.attr);
            }
        }
        self.objs.insert(obj.uuid.clone(), obj);
    }

    /// Remove an object and everything that indexes it.
    pub fn remove(&mut self, uuid: &str) -> Option<Obj> {
        let obj = self.objs.remove(uuid)?;
        if let Some(m) = self.by_type.get_mut(&obj.ty) {
            m.remove(&obj.fq_name);
            if m.is_empty() {
                self.by_type.remove(&obj.ty);
            }
        }
        if let Some((_, p)) = &obj.parent
            && let Some(m) = self.children.get_mut(p)
        {
            if let Some(c) = m.get_mut(&obj.ty) {
                c.remove(&obj.fq_name);
                if c.is_empty() {
                    m.remove(&obj.ty);
                }
            }
            if m.is_empty() {
                self.children.remove(p);
            }
        }
        for refs in obj.refs.values() {
            for r in refs {
                self.remove_backref(&r.uuid, &obj.ty, &obj.uuid);
            }
        }
        self.children.remove(uuid);
        self.backrefs.remove(uuid);
        // The marks live on the target (`relaxbackref:<referrer>` columns of its row): they go
        // with it, and outlive the reference and the referrer.
        self.relaxed.retain(|(_, b)| b != uuid);
        Some(obj)
    }

    fn add_backref(&mut self, target: &str, from_ty: &str, from: &str, attr: &Value) {
        self.backrefs
            .entry(target.to_string())
            .or_default()
            .entry(from_ty.to_string())
            .or_default()
            .insert(from.to_string(), attr.clone());
    }

    fn remove_backref(&mut self, target: &str, from_ty: &str, from: &str) {
        if let Some(m) = self.backrefs.get_mut(target) {
            if let Some(r) = m.get_mut(from_ty) {
                r.remove(from);
                if r.is_empty() {
                    m.remove(from_ty);
                }
            }
            if m.is_empty() {
                self.backrefs.remove(target);
            }
        }
    }

    /// Replace one ref field of an object (an empty list removes the field).
    pub fn set_refs(&mut self, uuid: &str, field: &str, refs: Vec<Ref>) {
        let Some(obj) = self.objs.get_mut(uuid) else {
            return;
        };
        let ty = obj.ty.clone();
        let old = if refs.is_empty() {
            obj.refs.remove(field).unwrap_or_default()
        } else {
            obj.refs
                .insert(field.to_string(), refs.clone())
                .unwrap_or_default()
        };
        // Only dropped references lose their back-reference; a relax-for-delete mark stays
        // (upstream removes it only with the target).
        let kept: HashSet<&str> = refs.iter().map(|r| r.uuid.as_str()).collect();
        for r in &old {
            if !kept.contains(r.uuid.as_str()) {
                self.remove_backref(&r.uuid, &ty, uuid);
            }
        }
        for r in &refs {
            self.add_backref(&r.uuid, &ty, uuid, &r.attr);
        }
    }

    /// Whether `from` (of type `from_ty`) refers to `target`; O(log n) via the index.
    fn refers(&self, from: &str, from_ty: &str, target: &str) -> bool {
        self.backrefs
            .get(target)
            .and_then(|m| m.get(from_ty))
            .is_some_and(|m| m.contains_key(from))
    }

    /// Add one reference, or replace the attr of an existing one (ref-update ADD).
    pub fn upsert_ref(&mut self, uuid: &str, field: &str, r: Ref) {
        let Some(ty) = self.objs.get(uuid).map(|o| o.ty.clone()) else {
            return;
        };
        let exists = self.refers(uuid, &ty, &r.uuid);
        self.add_backref(&r.uuid, &ty, uuid, &r.attr);
        let Some(obj) = self.objs.get_mut(uuid) else {
            return;
        };
        let list = obj.refs.entry(field.to_string()).or_default();
        if exists && let Some(x) = list.iter_mut().find(|x| x.uuid == r.uuid) {
            x.attr = r.attr;
            return;
        }
        list.push(r);
    }

    /// Drop one reference (ref-update DELETE); false when there was none.
    pub fn remove_ref(&mut self, uuid: &str, field: &str, target: &str) -> bool {
        let Some(ty) = self.objs.get(uuid).map(|o| o.ty.clone()) else {
            return false;
        };
        if !self.refers(uuid, &ty, target) {
            return false;
        }
        let Some(obj) = self.objs.get_mut(uuid) else {
            return false;
        };
        let Some(list) = obj.refs.get_mut(field) else {
            return false;
        };
        let Some(pos) = list.iter().position(|x| x.uuid == target) else {
            return false;
        };
        list.remove(pos);
        if list.is_empty() {
            obj.refs.remove(field);
        }
        self.remove_backref(target, &ty, uuid);
        true
    }

    /// Set (or, with `None`, remove) properties.
    pub fn set_prop(&mut self, uuid: &str, name: &str, value: Option<Value>) {
        if let Some(obj) = self.objs.get_mut(uuid) {
            match value {
                Some(v) => {
                    obj.props.insert(name.to_string(), v);
                }
                None => {
                    obj.props.remove(name);
                }
            }
        }
    }

    pub fn relax(&mut self, from: &str, to: &str) {
        self.relaxed.insert((from.to_string(), to.to_string()));
    }

    pub fn is_relaxed(&self, from: &str, to: &str) -> bool {
        self.relaxed.contains(&(from.to_string(), to.to_string()))
    }

    /// The objects whose references to `to` were relaxed for delete.
    pub fn relaxed_referrers(&self, to: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .relaxed
            .iter()
            .filter(|(_, b)| b == to)
            .map(|(a, _)| a.clone())
            .collect();
        out.sort();
        out
    }

    /// Render an object as the API returns it. `base` is the href prefix
    /// (`http://host:port`), `None` for `exclude_hrefs`.
    pub fn render(&self, obj: &Obj, sel: &Select, base: Option<&str>) -> Value {
        let mut buf = Vec::with_capacity(1024);
        self.render_into(&mut buf, obj, sel, base);
        serde_json::from_slice(&buf).unwrap_or(Value::Null)
    }

    /// Render straight into a JSON buffer (lists of many objects build no value tree).
    pub fn render_into(&self, out: &mut Vec<u8>, obj: &Obj, sel: &Select, base: Option<&str>) {
        let mut w = ObjWriter::new(out);
        w.field("uuid", &obj.uuid);
        w.field("fq_name", &obj.fq_name);
        w.href(base, &obj.ty, &obj.uuid, "href");
        if !sel.brief {
            w.field("name", obj.fq_name.last().map_or("", String::as_str));
            if let Some((pt, pu)) = &obj.parent {
                w.field("parent_type", pt);
                w.field("parent_uuid", pu);
                w.href(base, pt, pu, "parent_href");
            }
        }
        for (k, v) in &obj.props {
            if sel.want(sel.all_props, k) {
                w.field(k, v);
            }
        }
        for (field, refs) in &obj.refs {
            if !sel.want(sel.all_refs, field) {
                continue;
            }
            let to_ty = ref_target(field).unwrap_or_default();
            // In the order of the targets' uuids, as upstream reads its `ref:<type>:<uuid>`
            // columns (cfgm_common/vnc_cassandra.py `_render_obj_from_db`; Cassandra, and its
            // fake `cassandra_fake_impl.py` `get`, return columns sorted by name).
            let mut refs: Vec<&Ref> = refs.iter().collect();
            refs.sort_by(|a, b| a.uuid.cmp(&b.uuid));
            w.list(field, refs.into_iter(), |w, r| {
                w.field("to", &r.to);
                w.field("uuid", &r.uuid);
                w.field("attr", &r.attr);
                w.href(base, &to_ty, &r.uuid, "href");
            });
        }
        if let Some(by_type) = self.backrefs.get(&obj.uuid) {
            for (from_ty, refs) in by_type {
                let field = back_ref_field(from_ty);
                if !sel.want(sel.all_back_refs, &field) {
                    continue;
                }
                let items = refs
                    .iter()
                    .filter_map(|(u, attr)| self.objs.get(u).map(|o| (o, attr)));
                w.list(&field, items, |w, (from, attr)| {
                    w.field("to", &from.fq_name);
                    w.field("uuid", &from.uuid);
                    w.field("attr", attr);
                    w.href(base, from_ty, &from.uuid, "href");
                });
            }
        }
        if let Some(by_type) = self.children.get(&obj.uuid) {
            for (child_ty, kids) in by_type {
                let field = children_field(child_ty);
                if !sel.want(sel.all_children, &field) || obj.props.contains_key(&field) {
                    continue;
                }
                w.list(&field, kids.iter(), |w, (fq, u)| {
                    w.field("to", fq);
                    w.field("uuid", u);
                    w.href(base, child_ty, u, "href");
                });
            }
        }
        w.close();
    }
}

/// Writes one JSON object field by field.
struct ObjWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjWriter { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // writing to a Vec cannot fail, and strings always serialise
        serde_json::to_writer(&mut *self.out, k).ok();
        self.out.push(b':');
    }

    fn field<T: serde::Serialize + ?Sized>(&mut self, k: &str, v: &T) {
        self.key(k);
        serde_json::to_writer(&mut *self.out, v).ok();
    }

    fn href(&mut self, base: Option<&str>, ty: &str, uuid: &str, key: &str) {
        if let Some(b) = base {
            self.field(key, &format!("{b}/{ty}/{uuid}"));
        }
    }

    fn list<I, F>(&mut self, k: &str, items: I, mut each: F)
    where
        I: Iterator,
        F: FnMut(&mut ObjWriter<'_>, I::Item),
    {
        self.key(k);
        self.out.push(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut w = ObjWriter::new(self.out);
            each(&mut w, item);
            w.close();
        }
        self.out.push(b']');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ty: &str, uuid: &str, fq: &[&str], parent: Option<(&str, &str)>) -> Obj {
        Obj {
            ty: ty.into(),
            uuid: uuid.into(),
            fq_name: fq.iter().map(|s| s.to_string()).collect(),
            parent: parent.map(|(a, b)| (a.into(), b.into())),
            props: Map::new(),
            refs: BTreeMap::new(),
        }
    }

    #[test]
    fn indexes_follow_inserts_ref_changes_and_removals() {
        let mut s = Store::new();
        s.insert(obj("project", "p", &["d", "p"], None));
        s.insert(obj(
            "virtual-network",
            "vn",
            &["d", "p", "vn"],
            Some(("project", "p")),
        ));
        let mut vmi = obj(
            "virtual-machine-interface",
            "i",
            &["d", "p", "i"],
            Some(("project", "p")),
        );
        vmi.refs.insert(
            "virtual_network_refs".into(),
            vec![Ref {
                to: vec!["d".into(), "p".into(), "vn".into()],
                uuid: "vn".into(),
                attr: Value::Null,
            }],
        );
        s.insert(vmi);
        assert_eq!(s.children("p").len(), 2);
        assert_eq!(
            s.referrers("vn"),
            vec![("virtual-machine-interface".to_string(), "i".to_string())]
        );
        let sel = Select {
            all_props: true,
            all_refs: true,
            all_back_refs: true,
            all_children: true,
            ..Default::default()
        };
        let vn = s
            .get("vn")
            .cloned()
            .map(|o| s.render(&o, &sel, Some("http://h")));
        let vn = vn.unwrap_or_default();
        assert_eq!(vn["virtual_machine_interface_back_refs"][0]["uuid"], "i");
        assert_eq!(vn["parent_href"], "http://h/project/p");
        s.relax("i", "vn");
        assert!(s.is_relaxed("i", "vn"));
        s.set_refs("i", "virtual_network_refs", vec![]);
        assert!(s.referrers("vn").is_empty());
        assert!(s.is_relaxed("i", "vn"), "the mark outlives the reference");
        assert_eq!(s.relaxed_referrers("vn"), ["i"]);
        s.remove("i");
        assert_eq!(s.children("p").len(), 1);
        assert_eq!(s.count_type("virtual-machine-interface"), 0);
    }
}
