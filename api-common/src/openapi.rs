//! Building the OpenAPI document without silent collisions.
//!
//! utoipa-axum merges each route's component schemas into one map keyed by
//! schema name, and a later schema of the same name silently replaces an
//! earlier one: two request types both called `AssignRequest` once made the
//! lead route document the equipment booking body. [`CheckedRoutes`] refuses
//! that at startup (and so in every test): registering a schema whose name is
//! already taken by a different schema panics, naming it.

use utoipa::openapi::{Components, OpenApi, RefOr, schema::Schema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// `routes` and `merge` of [`OpenApiRouter`], refusing two different
/// schemas under one name.
pub trait CheckedRoutes: Sized {
    /// [`OpenApiRouter::routes`], after checking the route's schemas.
    fn checked_routes(self, route: Self::Route) -> Self;
    /// [`OpenApiRouter::merge`], after checking the other router's schemas.
    fn checked_merge(self, other: Self) -> Self;
    type Route;
}

impl<S> CheckedRoutes for OpenApiRouter<S>
where
    S: Send + Sync + Clone + 'static,
{
    type Route = UtoipaMethodRouter<S>;

    fn checked_routes(self, route: UtoipaMethodRouter<S>) -> Self {
        let (schemas, paths, _) = &route;
        let path = paths.paths.keys().next().cloned().unwrap_or_default();
        for (name, schema) in schemas {
            if let Err(message) = check(self.get_openapi(), name, schema) {
                panic!("{message} (registered again by {path})");
            }
        }
        self.routes(route)
    }

    fn checked_merge(self, other: Self) -> Self {
        if let Some(components) = &other.get_openapi().components {
            for (name, schema) in &components.schemas {
                if let Err(message) = check(self.get_openapi(), name, schema) {
                    panic!("{message} (when merging routers)");
                }
            }
        }
        self.merge(other)
    }
}

/// Whether `schema` may be registered as `name` in `doc`: the name is free,
/// or holds the very same schema.
pub fn check(doc: &OpenApi, name: &str, schema: &RefOr<Schema>) -> Result<(), String> {
    let Some(existing) = doc
        .components
        .as_ref()
        .and_then(|c: &Components| c.schemas.get(name))
    else {
        return Ok(());
    };
    if existing == schema {
        return Ok(());
    }
    let show = |s: &RefOr<Schema>| serde_json::to_string(s).unwrap_or_default();
    Err(format!(
        "two different types register the OpenAPI schema `{name}`: {} and {}; rename one",
        show(existing),
        show(schema)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ComponentsBuilder, OpenApiBuilder};

    fn object(field: &str) -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .property(field, ObjectBuilder::new().schema_type(Type::String))
                .build(),
        ))
    }

    #[test]
    fn a_name_taken_by_another_schema_is_refused() {
        let doc = OpenApiBuilder::new()
            .components(Some(
                ComponentsBuilder::new()
                    .schema("AssignRequest", object("user_id"))
                    .build(),
            ))
            .build();
        assert!(check(&doc, "AssignRequest", &object("user_id")).is_ok());
        assert!(check(&doc, "Other", &object("equipment_id")).is_ok());
        let err = check(&doc, "AssignRequest", &object("equipment_id")).unwrap_err();
        assert!(err.contains("`AssignRequest`"), "{err}");
    }
}
