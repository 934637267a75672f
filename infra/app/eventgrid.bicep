// The Event Grid topic the pipeline publishes its events to (CloudEvents 1.0), and, when a URL is given, one webhook
// subscription. The app publishes with its managed identity only (EventGrid Data Sender on this topic, in
// app/rbac.bicep); keys and SAS tokens are disabled. Facts and sources: infra/README.md ("Events").

param name string
param location string = resourceGroup().location
param tags object = {}

@secure()
@description('HTTPS endpoint that receives every event (CloudEvents 1.0, with the CloudEvents webhook validation handshake). Empty: no subscription.')
param eventsWebhookUrl string = ''

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    // Publishers send CloudEvents 1.0 (the pipeline's events are CloudEvents); subscribers get them as sent.
    inputSchema: 'CloudEventSchemaV1_0'
    // Microsoft Entra ID only: no access key or SAS token can publish.
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource webhook 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (!empty(eventsWebhookUrl)) {
  parent: topic
  name: 'webhook'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: eventsWebhookUrl
        maxEventsPerBatch: 1
      }
    }
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    // Event Grid's own bounds: up to 30 attempts over up to 24 hours, then the event is dropped.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output name string = topic.name
output endpoint string = topic.properties.endpoint
