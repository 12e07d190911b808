-- One server, three databases: the studio's own tables, MLflow's backend and Optuna's studies (their table names
-- overlap, e.g. MLflow also has a "datasets" table).
CREATE DATABASE mlflow OWNER studio;
CREATE DATABASE optuna OWNER studio;
