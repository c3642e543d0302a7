//! The few Docker Engine API calls the backend makes, through bollard,
//! with errors that say what was being done.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::backend::BackendError;

/// A connection to the Docker daemon.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

/// What a container runs and where.
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    pub network: String,
    pub ip: Ipv4Addr,
    /// A host directory and where it appears inside the container.
    pub bind: (PathBuf, PathBuf),
}

fn failed(what: impl std::fmt::Display, e: bollard::errors::Error) -> BackendError {
    BackendError::Docker(format!("docker: {what}: {e}"))
}

/// Whether the daemon refused a subnet because another network has it.
pub fn is_subnet_taken(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. } if message.contains("overlaps"))
}

/// Whether the daemon said there is no such object (any more).
fn is_gone(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

impl Engine {
    /// Connects to the daemon (DOCKER_HOST, or the local socket) and agrees
    /// on an API version with it; the error is one line saying where.
    pub async fn connect() -> Result<Engine, BackendError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unavailable = |why: String| BackendError::Docker(format!("Docker is not available at {host}: {why}"));
        let docker = Docker::connect_with_defaults().map_err(|e| unavailable(e.to_string()))?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unavailable("no answer within 10 s".into()))?
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Engine { docker })
    }

    pub async fn image_exists(&self, tag: &str) -> bool {
        self.docker.inspect_image(tag).await.is_ok()
    }

    /// Builds an image from a tar build context with the classic builder,
    /// which pulls nothing for `FROM scratch`.
    pub async fn build_image(
        &self,
        tag: &str,
        labels: &HashMap<String, String>,
        context: Vec<u8>,
    ) -> Result<(), BackendError> {
        let options =
            BuildImageOptionsBuilder::default().dockerfile("Dockerfile").t(tag).rm(true).labels(labels).build();
        let mut progress = self.docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = progress.next().await {
            step.map_err(|e| failed(format!("building image {tag}"), e))?;
        }
        Ok(())
    }

    /// A bridge network on `subnet`/24, its gateway at .1.
    pub async fn create_network(
        &self,
        name: &str,
        subnet: Ipv4Addr,
        labels: HashMap<String, String>,
    ) -> Result<(), bollard::errors::Error> {
        let [a, b, c, _] = subnet.octets();
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{subnet}/24")),
                    gateway: Some(Ipv4Addr::new(a, b, c, 1).to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker.create_network(request).await.map(|_| ())
    }

    /// Removes a network; one already gone is not an error.
    pub async fn remove_network(&self, name: &str) -> Result<(), BackendError> {
        match self.docker.remove_network(name).await {
            Err(e) if !is_gone(&e) => Err(failed(format!("removing network {name}"), e)),
            _ => Ok(()),
        }
    }

    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<(), BackendError> {
        let (host_dir, inside) = &spec.bind;
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(spec.ip.to_string()), ..Default::default() }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.args.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone()),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{}:{}", host_dir.display(), inside.display())]),
                network_mode: Some(spec.network.clone()),
                // json-file keeps a container's log across its restarts,
                // so a follower can read it whole again after each.
                log_config: Some(HostConfigLogConfig { typ: Some("json-file".into()), config: None }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|_| ())
            .map_err(|e| failed(format!("creating container {}", spec.name), e))
    }

    pub async fn start(&self, name: &str) -> Result<(), BackendError> {
        self.docker.start_container(name, None).await.map_err(|e| failed(format!("starting {name}"), e))
    }

    pub async fn kill(&self, name: &str) -> Result<(), BackendError> {
        let options = KillContainerOptionsBuilder::default().signal("SIGKILL").build();
        self.docker.kill_container(name, Some(options)).await.map_err(|e| failed(format!("killing {name}"), e))
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<(), BackendError> {
        let options = StopContainerOptionsBuilder::default().t(grace.as_secs() as i32).build();
        self.docker.stop_container(name, Some(options)).await.map_err(|e| failed(format!("stopping {name}"), e))
    }

    pub async fn pause(&self, name: &str) -> Result<(), BackendError> {
        self.docker.pause_container(name).await.map_err(|e| failed(format!("pausing {name}"), e))
    }

    pub async fn unpause(&self, name: &str) -> Result<(), BackendError> {
        self.docker.unpause_container(name).await.map_err(|e| failed(format!("unpausing {name}"), e))
    }

    /// The host pid of the container's first process while it runs (a
    /// paused container runs).
    pub async fn pid(&self, name: &str) -> Result<Option<u32>, BackendError> {
        let inspect =
            self.docker.inspect_container(name, None).await.map_err(|e| failed(format!("inspecting {name}"), e))?;
        let state = inspect.state.unwrap_or_default();
        Ok(state.pid.filter(|&p| p > 0 && state.running == Some(true)).map(|p| p as u32))
    }

    /// Waits (at most `limit`) until the container no longer runs.
    pub async fn wait_stopped(&self, name: &str, limit: Duration) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pid(name).await?.is_some() {
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError::Docker(format!(
                    "docker: {name} still runs {limit:?} after it was told to stop"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Removes a container, running or not, with its anonymous volumes;
    /// one already gone (`chaos clean` and a dying run may race) is not an
    /// error.
    pub async fn remove_container(&self, name: &str) -> Result<(), BackendError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Err(e) if !is_gone(&e) => Err(failed(format!("removing {name}"), e)),
            _ => Ok(()),
        }
    }

    /// Writes the container's whole log (stdout and stderr, as json-file
    /// kept it) to `path`, and appends to it until the container stops.
    pub fn follow_logs(&self, name: &str, path: &Path) -> tokio::task::JoinHandle<()> {
        let (docker, name, path) = (self.docker.clone(), name.to_string(), path.to_path_buf());
        tokio::spawn(async move {
            let Ok(mut file) = tokio::fs::File::create(&path).await else { return };
            let options = LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).build();
            let mut output = docker.logs(&name, Some(options));
            while let Some(Ok(chunk)) = output.next().await {
                let (LogOutput::StdErr { message }
                | LogOutput::StdOut { message }
                | LogOutput::Console { message }
                | LogOutput::StdIn { message }) = chunk;
                if file.write_all(&message).await.is_err() {
                    return;
                }
            }
            let _ = file.flush().await;
        })
    }

    /// The containers (running or not) that carry label `key`, by name,
    /// with that label's value.
    pub async fn containers_labelled(&self, key: &str) -> Result<Vec<(String, String)>, BackendError> {
        let filters = HashMap::from([("label", vec![key])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| failed("listing containers", e))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let names = c.names.unwrap_or_default();
                let name = names.first().map_or("", |n| n.trim_start_matches('/')).to_string();
                (name, c.labels.unwrap_or_default().remove(key).unwrap_or_default())
            })
            .collect())
    }

    /// The networks that carry label `key`, by name, with its value.
    pub async fn networks_labelled(&self, key: &str) -> Result<Vec<(String, String)>, BackendError> {
        let filters = HashMap::from([("label", vec![key])]);
        let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_networks(Some(options)).await.map_err(|e| failed("listing networks", e))?;
        Ok(list
            .into_iter()
            .map(|n| (n.name.unwrap_or_default(), n.labels.unwrap_or_default().remove(key).unwrap_or_default()))
            .collect())
    }
}
