//! Every aggregate's [`Store`], by type: a route or process asks for
//! `stores.get::<Quote>()`, so a new aggregate needs no field or
//! constructor line anywhere.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aggregates::{DomainError, TenantOwned};
use cqrs_es::Aggregate;
use keystore::KeyStore;
use sqlx::PgPool;

use crate::Store;

/// The event stores of one database, made on first use and shared.
#[derive(Clone)]
pub struct Stores {
    pool: PgPool,
    keys: Arc<KeyStore>,
    made: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl Stores {
    pub fn new(pool: PgPool, keys: Arc<KeyStore>) -> Self {
        Self {
            pool,
            keys,
            made: Arc::default(),
        }
    }

    /// The store of aggregate `A`.
    pub fn get<A>(&self) -> Arc<Store<A>>
    where
        A: Aggregate<Services = ()> + TenantOwned + 'static,
        A::Error: DomainError,
    {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        let store = made.entry(TypeId::of::<A>()).or_insert_with(|| {
            Arc::new(Store::<A>::new(self.pool.clone(), self.keys.clone()))
                as Arc<dyn Any + Send + Sync>
        });
        match store.clone().downcast::<Store<A>>() {
            Ok(store) => store,
            // Unreachable: the entry for A's TypeId is always a Store<A>.
            Err(_) => Arc::new(Store::new(self.pool.clone(), self.keys.clone())),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aggregates::customer::Customer;
    use aggregates::lead::Lead;

    #[tokio::test]
    async fn each_aggregate_has_one_store_made_on_first_use() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        let master = keystore::MasterKeys::parse(keystore::DEV_MASTER_KEY, &[]).expect("dev key");
        let keys = Arc::new(KeyStore::new(pool.clone(), master));
        let stores = Stores::new(pool, keys);
        let customers = stores.get::<Customer>();
        assert!(Arc::ptr_eq(&customers, &stores.get::<Customer>()));
        let _leads: Arc<Store<Lead>> = stores.get::<Lead>();
        assert_eq!(stores.made.lock().unwrap().len(), 2);
    }
}
