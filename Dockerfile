# The Airflow image of docker-compose.yaml: the official image of the pinned Airflow and Python, the pinned
# runtime requirements at the versions of constraints.txt (the set the test suite runs with), and the project
# installed as a package: the DAGs' libraries, the provider entry point (the sms_platform connection type and its
# form), the campaign dashboard plugin, the sms-rt command and the platform simulator. See docs/deployment.md.
FROM apache/airflow:3.3.2-python3.11

# Everything above "# Tests and checks" in requirements.txt is what runs in Airflow; the rest is for the test suite.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/sms-rt/
RUN sed '/^# Tests and checks/,$d' /opt/sms-rt/requirements.txt > /opt/sms-rt/runtime-requirements.txt \
 && pip install --no-cache-dir -r /opt/sms-rt/runtime-requirements.txt -c /opt/sms-rt/constraints.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/sms-rt/
COPY --chown=airflow:0 include /opt/sms-rt/include
COPY --chown=airflow:0 plugins /opt/sms-rt/plugins
COPY --chown=airflow:0 dags /opt/sms-rt/dags
RUN pip install --no-cache-dir --no-deps /opt/sms-rt

# The DAG files (docker-compose.yaml also mounts ./dags over them, so edits show without a rebuild), the
# one-shot set-up of airflow-init, and the folder of the shared volume (landing files, Data Docs, drop folders).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 scripts/compose_init.sh /opt/sms-rt/compose_init.sh
RUN mkdir -p /opt/airflow/sms_rt /opt/airflow/auth
