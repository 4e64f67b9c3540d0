-- Run once by the postgres image, when its data volume is first initialised: one database
-- per service, owned by the application role `guichet` (POSTGRES_USER in
-- docker-compose.yml). On an existing volume, run these statements by hand with psql.
CREATE DATABASE identity OWNER guichet ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE demarches OWNER guichet ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE wallet OWNER guichet ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE notify OWNER guichet ENCODING 'UTF8' TEMPLATE template0;
